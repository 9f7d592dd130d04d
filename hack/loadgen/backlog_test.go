package main

import (
	"context"
	"fmt"
	"testing"
)

func TestBacklog_groups_by_partition_in_offset_order(t *testing.T) {
	t.Parallel()
	bl := newBacklog([]offsetID{{1, 1, "b1"}, {0, 0, "a0"}, {1, 0, "b0"}, {0, 1, "a1"}, {2, 0, "c0"}})
	want := [][]string{{"a0", "a1"}, {"b0", "b1"}, {"c0"}}
	if fmt.Sprint(bl.ids) != fmt.Sprint(want) || bl.total() != 5 || bl.stored() != 0 {
		t.Errorf("got %v (total %d, stored %d), want %v (5, 0)", bl.ids, bl.total(), bl.stored(), want)
	}
}

func TestBacklog_advance_finds_the_stored_prefix(t *testing.T) {
	t.Parallel()
	var records []offsetID
	for p := range 3 {
		for o := range 1000 {
			records = append(records, offsetID{int32(p), int64(o), fmt.Sprintf("%d-%d", p, o)})
		}
	}
	bl := newBacklog(records)
	storedUpTo := []int{0, 0, 0} // per partition: offsets below are stored
	lookups := 0
	has := func(_ context.Context, id string) (bool, error) {
		lookups++
		var p, o int
		fmt.Sscanf(id, "%d-%d", &p, &o)
		return o < storedUpTo[p], nil
	}
	for round, upTo := range [][]int{{0, 0, 0}, {10, 0, 500}, {300, 1, 501}, {1000, 1000, 1000}} {
		copy(storedUpTo, upTo)
		// Several polls per state, as while waiting: each converges on the prefix.
		for range 30 {
			if err := bl.advance(context.Background(), has); err != nil {
				t.Fatal(err)
			}
		}
		if fmt.Sprint(bl.done) != fmt.Sprint(upTo) {
			t.Errorf("round %d: known prefixes %v, want %v", round, bl.done, upTo)
		}
	}
	if !bl.complete() || bl.stored() != 3000 {
		t.Errorf("complete %v, stored %d; want true, 3000", bl.complete(), bl.stored())
	}
	if lookups > 1500 {
		t.Errorf("%d lookups for 3000 ids in 120 polls, want far fewer than one per id", lookups)
	}
}
