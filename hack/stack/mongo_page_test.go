package stack

import (
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// pageQuery is the store's keyset pagination: a user's purchases, newest
// first, ties on ts broken by _id, starting after the cursor (ts, id).
func pageQuery(user string, after *purchaseDoc) bson.D {
	filter := bson.D{{Key: "username", Value: user}}
	if after != nil {
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "ts", Value: bson.D{{Key: "$lt", Value: after.TS}}}},
			bson.D{{Key: "ts", Value: after.TS}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: after.ID}}}},
		}})
	}
	return filter
}

func TestMongoOps_keyset_pages_newest_first_with_projection(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		coll := shopDB(t, b).Collection("purchases")
		model := mongo.IndexModel{Keys: bson.D{{Key: "username", Value: 1}, {Key: "ts", Value: -1}, {Key: "_id", Value: -1}}}
		if _, err := coll.Indexes().CreateOne(t.Context(), model); err != nil {
			t.Fatalf("create index: %v", err)
		}

		// BSON datetimes have millisecond precision; ties on ts are deliberate.
		base := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
		var docs []any
		var want []purchaseDoc
		for i, id := range []string{"a", "b", "c", "d", "e", "f", "g"} {
			d := purchaseDoc{ID: id, Username: "alice", TS: base.Add(time.Duration(i/2) * time.Second), Price: int64(i) << 40}
			docs, want = append(docs, d), append(want, d)
		}
		docs = append(docs, purchaseDoc{ID: "z", Username: "bob", TS: base, Price: 1})
		if _, err := coll.InsertMany(t.Context(), docs); err != nil {
			t.Fatalf("seed: %v", err)
		}
		slices.SortFunc(want, func(a, b purchaseDoc) int {
			if c := b.TS.Compare(a.TS); c != 0 {
				return c
			}
			return compareStrings(b.ID, a.ID)
		})

		sort := bson.D{{Key: "ts", Value: -1}, {Key: "_id", Value: -1}}
		projection := bson.D{{Key: "_id", Value: 1}, {Key: "ts", Value: 1}, {Key: "price", Value: 1}}
		var got []purchaseDoc
		var after *purchaseDoc
		for page := 0; page < 10; page++ {
			opts := options.Find().SetSort(sort).SetLimit(3).SetProjection(projection)
			cur, err := coll.Find(t.Context(), pageQuery("alice", after), opts)
			if err != nil {
				t.Fatalf("find page %d: %v", page, err)
			}
			var raws []bson.Raw
			if err := cur.All(t.Context(), &raws); err != nil {
				t.Fatalf("read page %d: %v", page, err)
			}
			if len(raws) == 0 {
				break
			}
			if len(raws) > 3 {
				t.Fatalf("page %d: got %d documents, want at most 3", page, len(raws))
			}
			for _, raw := range raws {
				got = append(got, decodeProjected(t, raw))
			}
			after = &got[len(got)-1]
		}

		for i := range want {
			want[i].Username = "" // projected away
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages:\ngot  %v\nwant %v", got, want)
		}
	})
}

// decodeProjected checks the projected document's BSON types (datetime ts,
// int64 price, no username) and decodes it.
func decodeProjected(t *testing.T, raw bson.Raw) purchaseDoc {
	t.Helper()
	if v, err := raw.LookupErr("ts"); err != nil || v.Type != bson.TypeDateTime {
		t.Errorf("ts in %s: got type %v (%v), want datetime", raw, v.Type, err)
	}
	if v, err := raw.LookupErr("price"); err != nil || v.Type != bson.TypeInt64 {
		t.Errorf("price in %s: got type %v (%v), want int64", raw, v.Type, err)
	}
	if _, err := raw.LookupErr("username"); err == nil {
		t.Errorf("username in %s: present, want projected away", raw)
	}
	var d purchaseDoc
	if err := bson.Unmarshal(raw, &d); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	d.TS = d.TS.UTC()
	return d
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
