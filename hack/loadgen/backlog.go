package main

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// backlog is a produced backlog: the purchase ids of each partition in
// offset order, and how far into each the store is known to hold them.
//
// Counting the collection would be the obvious progress check, but on a
// store without count pushdown (the embedded FerretDB scans every document,
// about 3 s per count at 100k) it would slow the very drain it times.
// Looking ids up by _id is cheap on every store. cm-api stores a partition
// in order, so the stored ids of a partition are a prefix of its list, and
// advance finds the prefix's end by galloping. A final count checks that.
type backlog struct {
	ids  [][]string
	done []int // per partition: ids[p][:done[p]] are stored
	step []int // per partition: the next probe's distance
}

// offsetID is a produced record: where it landed and which purchase it is.
type offsetID struct {
	partition int32
	offset    int64
	id        string
}

// newBacklog groups the produced records by partition, in offset order.
func newBacklog(records []offsetID) *backlog {
	byPart := map[int32][]offsetID{}
	for _, r := range records {
		byPart[r.partition] = append(byPart[r.partition], r)
	}
	bl := &backlog{}
	for _, p := range slices.Sorted(maps.Keys(byPart)) {
		rs := byPart[p]
		slices.SortFunc(rs, func(a, b offsetID) int { return cmp.Compare(a.offset, b.offset) })
		ids := make([]string, len(rs))
		for i, r := range rs {
			ids[i] = r.id
		}
		bl.ids = append(bl.ids, ids)
		bl.done = append(bl.done, 0)
		bl.step = append(bl.step, 1)
	}
	return bl
}

// total is the number of ids in the backlog.
func (bl *backlog) total() int {
	n := 0
	for _, ids := range bl.ids {
		n += len(ids)
	}
	return n
}

// stored is how many ids are known to be stored.
func (bl *backlog) stored() int {
	n := 0
	for _, d := range bl.done {
		n += d
	}
	return n
}

// complete reports whether every id is known to be stored.
func (bl *backlog) complete() bool { return bl.stored() == bl.total() }

// advance moves each partition's known prefix forward: it probes further
// ahead after each hit (doubling the step) and stops at the first miss
// (halving it), so that a poll costs a few lookups at any drain speed.
func (bl *backlog) advance(ctx context.Context, has func(context.Context, string) (bool, error)) error {
	for p, ids := range bl.ids {
		for bl.done[p] < len(ids) {
			probe := min(bl.done[p]+bl.step[p], len(ids)) - 1
			ok, err := has(ctx, ids[probe])
			if err != nil {
				return err
			}
			if !ok {
				bl.step[p] = max(1, bl.step[p]/2)
				break
			}
			bl.done[p] = probe + 1
			bl.step[p] *= 2
		}
	}
	return nil
}

// hasID reports whether coll holds a document with _id id.
func hasID(coll *mongo.Collection) func(context.Context, string) (bool, error) {
	opts := options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})
	return func(ctx context.Context, id string) (bool, error) {
		err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, opts).Err()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return false, nil
		}
		return err == nil, err
	}
}
