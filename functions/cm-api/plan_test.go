package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// TestListIsIndexBacked checks on MongoDB that a page, the first and a
// later one, is read through the username_timestamp_id index with no
// collection scan and no in-memory sort, looking at no more than about a
// page of index keys and documents: a page costs the same whatever the
// user's history and however many other users there are. FerretDB has no
// such plans (its SQLite backend reads the whole collection for every
// query), so there it is skipped: run it with MONGODB_URI set to a MongoDB.
func TestListIsIndexBacked(t *testing.T) {
	t.Parallel()
	st, ctx := newMongoOnlyStore(t)
	// Two users, timestamps with ties, so that the cursor's _id tie-break
	// is part of the plan.
	var items []saveItem
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i := range 300 {
		for _, user := range []string{"alice", "bob"} {
			items = append(items, saveItem{p: purchase.Purchase{ID: fmt.Sprintf("%s-%03d", user, i), Username: user,
				UserID: "u-" + user, Price: 100, Timestamp: base.Add(time.Duration(i/3) * time.Second)}})
		}
	}
	for i, r := range st.SaveMany(ctx, items) {
		if r.err != nil || r.duplicate {
			t.Fatalf("save %s: duplicate %v, %v", items[i].p.ID, r.duplicate, r.err)
		}
	}
	const limit = 10
	_, next, err := st.List(ctx, "alice", purchase.Page{Limit: limit})
	if err != nil || next == "" {
		t.Fatalf("first page: next %q, %v; want a cursor", next, err)
	}
	for name, page := range map[string]purchase.Page{"first page": {Limit: limit}, "later page": {Limit: limit, Cursor: next}} {
		q, err := newListQuery("alice", page)
		if err != nil {
			t.Fatal(err)
		}
		out := explainFind(ctx, t, st, bson.D{{Key: "filter", Value: q.filter},
			{Key: "sort", Value: q.sort}, {Key: "limit", Value: q.limit}, {Key: "projection", Value: q.projection}})
		if problem := listPlanProblem(lookup(out, "queryPlanner", "winningPlan")); problem != "" {
			t.Errorf("%s: %s", name, problem)
		}
		// limit+1 per $or branch at most, and the keys a branch skips.
		bound := 2*q.limit + 2
		keys, docs := asInt(lookup(out, "executionStats", "totalKeysExamined")), asInt(lookup(out, "executionStats", "totalDocsExamined"))
		if keys > bound || docs > bound {
			t.Errorf("%s: examined %d keys and %d documents; want at most %d of each", name, keys, docs, bound)
		}
	}
}

// newMongoOnlyStore is newTestStore for the tests that read query plans:
// it skips on FerretDB, whose SQLite backend has none.
func newMongoOnlyStore(t *testing.T) (*mongoStore, context.Context) {
	t.Helper()
	st := newTestStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if ferret, err := isFerretDB(ctx, st.client); err != nil {
		t.Fatal(err)
	} else if ferret {
		t.Skip("FerretDB's SQLite backend reads the whole collection for every query: no index plans to check; set MONGODB_URI to a MongoDB")
	}
	return st, ctx
}

// explainFind explains a find on st's collection with the given fields
// (filter, sort, ...) and returns the execution statistics.
func explainFind(ctx context.Context, t *testing.T, st *mongoStore, find bson.D) bson.M {
	t.Helper()
	var out bson.M
	cmd := bson.D{{Key: "explain", Value: append(bson.D{{Key: "find", Value: st.coll.Name()}}, find...)},
		{Key: "verbosity", Value: "executionStats"}}
	if err := st.coll.Database().RunCommand(ctx, cmd).Decode(&out); err != nil {
		t.Fatalf("explain: %v", err)
	}
	return out
}

// isFerretDB reports whether the server is FerretDB: its buildInfo says so.
func isFerretDB(ctx context.Context, c *mongo.Client) (bool, error) {
	var info bson.M
	if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, fmt.Errorf("buildInfo: %w", err)
	}
	_, ok := info["ferretdbVersion"]
	return ok, nil
}

// listPlanProblem says what is wrong with a winning plan for List: it must
// scan listIndex() and nothing else, with no collection scan and no sort in
// memory. It returns "" for a good plan.
func listPlanProblem(plan any) string {
	stages, indexes := planStages(plan)
	if !slices.Contains(stages, "IXSCAN") || slices.ContainsFunc(indexes, func(i string) bool { return i != listIndexName }) ||
		slices.Contains(stages, "COLLSCAN") || slices.Contains(stages, "SORT") {
		return fmt.Sprintf("winning plan has stages %v on indexes %v; want IXSCAN on %s only, no COLLSCAN, no SORT",
			stages, indexes, listIndexName)
	}
	return ""
}

// planStages lists the stages of a plan tree, depth first, and the indexes
// its index scans use. It walks every nested document and array, so it
// reads the classic plan shape and the slot-based one (under queryPlan)
// alike.
func planStages(plan any) (stages, indexes []string) {
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case bson.D:
			for _, e := range v {
				switch s, _ := e.Value.(string); e.Key {
				case "stage":
					stages = append(stages, s)
				case "indexName":
					indexes = append(indexes, s)
				default:
					walk(e.Value)
				}
			}
		case bson.M:
			d := make(bson.D, 0, len(v))
			for _, k := range slices.Sorted(maps.Keys(v)) {
				d = append(d, bson.E{Key: k, Value: v[k]})
			}
			walk(d)
		case bson.A:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(plan)
	return stages, indexes
}

// lookup follows keys down nested documents; nil when one is missing.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		switch d := v.(type) {
		case bson.M:
			v = d[k]
		case bson.D:
			v = nil
			for _, e := range d {
				if e.Key == k {
					v = e.Value
				}
			}
		default:
			return nil
		}
	}
	return v
}

// asInt reads a BSON number; when v is none, a number too large for any
// bound, so that a missing count fails.
func asInt(v any) int64 {
	switch n := v.(type) {
	case int32:
		return int64(n)
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return 1 << 62
}

func TestListPlanProblem(t *testing.T) {
	t.Parallel()
	ixscan := `{"stage": "IXSCAN", "indexName": "username_timestamp_id", "keyPattern": {"username": 1, "timestamp": -1, "_id": -1}}`
	for _, tc := range []struct {
		name, explain string
		ok            bool
	}{
		{"classic, index only", `{"queryPlanner": {"winningPlan": {"stage": "LIMIT", "inputStage": {"stage": "PROJECTION_SIMPLE",
			"inputStage": {"stage": "FETCH", "inputStage": ` + ixscan + `}}},
			"rejectedPlans": [{"stage": "SORT", "inputStage": {"stage": "COLLSCAN"}}]}}`, true},
		{"classic, $or merged in index order", `{"queryPlanner": {"winningPlan": {"stage": "LIMIT", "inputStage": {"stage": "FETCH",
			"inputStage": {"stage": "SORT_MERGE", "inputStages": [` + ixscan + `, ` + ixscan + `]}}}}}`, true},
		{"slot-based", `{"queryPlanner": {"winningPlan": {"queryPlan": {"stage": "LIMIT", "inputStage": {"stage": "FETCH",
			"inputStage": ` + ixscan + `}}, "slotBasedPlan": {"slots": "$$RESULT=s11", "stages": "[2] limit 11"}}}}`, true},
		{"sort in memory", `{"queryPlanner": {"winningPlan": {"stage": "SORT", "inputStage": {"stage": "FETCH",
			"inputStage": ` + ixscan + `}}}}`, false},
		{"collection scan", `{"queryPlanner": {"winningPlan": {"stage": "SORT", "inputStage": {"stage": "COLLSCAN"}}}}`, false},
		{"another index", `{"queryPlanner": {"winningPlan": {"stage": "FETCH", "inputStage": {"stage": "IXSCAN", "indexName": "_id_"}}}}`, false},
		{"no plan", `{"queryPlanner": {}}`, false},
	} {
		var out bson.M
		if err := bson.UnmarshalExtJSON([]byte(tc.explain), false, &out); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if problem := listPlanProblem(lookup(out, "queryPlanner", "winningPlan")); (problem == "") != tc.ok {
			t.Errorf("%s: problem %q, want ok=%v", tc.name, problem, tc.ok)
		}
	}
}
