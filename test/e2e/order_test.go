package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestOrderPerUser holds the "order per user" guarantee per mode: each
// user's purchases, bought one after the other and interleaved with other
// users', are listed in the order bought (newest first), each once, however
// they were delivered. In Kafka mode they are also consumed in that order:
// one partition at increasing offsets (cm-api writes a partition's records
// concurrently, so offsets, not the log's order, are the consumed order).
// Through the KafkaSink and the shipped unordered KafkaSource cm-api may
// receive them in any order; with the ordered KafkaSource (the documented
// option) it receives them one by one in the order bought.
func TestOrderPerUser(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	for _, mode := range []string{"kafka", "knative", "knative_ordered"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			shop := harness.NewShop(t, brokers, harness.MongoURI(t))
			switch mode {
			case "kafka":
				shop.StartAPI(true, nil)
				shop.StartServer("", nil)
			case "knative":
				shop.StartAPI(false, nil)
				shop.StartKafkaSource(1)
				shop.StartServer(harness.StartKafkaSink(t, brokers, shop.Topic), nil)
			default:
				shop.StartAPI(false, nil)
				shop.StartKafkaSourceOrdered(1)
				shop.StartServer(harness.StartKafkaSink(t, brokers, shop.Topic), nil)
			}
			const users, each = 4, 12
			sent := map[string][]string{}
			for i := range users * each {
				user := fmt.Sprintf("order-%s-%d", mode, i%users)
				id := buyOK(t, shop, fmt.Sprintf(`{"username":%q,"userid":"o-%d","price":"%d.00"}`, user, i%users, i+1), nil)
				sent[user] = append(sent[user], id)
			}
			for user, ids := range sent {
				checkListedAsBought(t, user, ids, waitForPurchases(t, shop, user, ids...))
			}
			stored := storedLog(t, shop.API.Output())
			for user, ids := range sent {
				switch mode {
				case "kafka":
					checkOffsets(t, user, ids, stored)
				case "knative_ordered":
					checkReceivedAsBought(t, user, ids, stored)
				}
			}
		})
	}
}

// checkListedAsBought wants listed, the user's purchases as
// GET /getAllUserBuys lists them, to be ids newest first, each once: the
// list is sorted by timestamp, then id, and cm-server stamps a purchase when
// it is bought. (waitForPurchases already wants each id once.)
func checkListedAsBought(t *testing.T, user string, ids []string, listed []harness.Purchase) {
	t.Helper()
	var got []string
	for _, p := range listed {
		got = append(got, p.ID)
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	tie := false // two bought within one timestamp: listed in id order
	for i := 1; i < len(listed); i++ {
		a, b := listed[i-1], listed[i]
		if a.Timestamp < b.Timestamp || (a.Timestamp == b.Timestamp && a.ID <= b.ID) {
			t.Errorf("%s: %s/%s listed before %s/%s, want newest first, then id descending", user, a.Timestamp, a.ID, b.Timestamp, b.ID)
		}
		tie = tie || a.Timestamp == b.Timestamp
	}
	if !tie && !slices.Equal(got, want) {
		t.Errorf("%s: listed %v, want newest first as bought %v", user, got, want)
	}
}

// checkReceivedAsBought wants cm-api to have stored ids in the order bought.
func checkReceivedAsBought(t *testing.T, user string, ids []string, stored []storedRecord) {
	t.Helper()
	var got []string
	for _, s := range stored {
		if slices.Contains(ids, s.ID) && !slices.Contains(got, s.ID) {
			got = append(got, s.ID)
		}
	}
	if !slices.Equal(got, ids) {
		t.Errorf("%s: cm-api received %v, want the order bought %v", user, got, ids)
	}
}

// storedRecord is one "purchase stored" line of cm-api's log.
type storedRecord struct {
	Msg       string `json:"msg"`
	ID        string `json:"purchase_id"`
	Partition *int32 `json:"partition"`
	Offset    *int64 `json:"offset"`
}

// storedLog reads cm-api's "purchase stored" lines, in the order logged.
func storedLog(t *testing.T, out string) []storedRecord {
	t.Helper()
	var recs []storedRecord
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r storedRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Msg == "purchase stored" {
			recs = append(recs, r)
		}
	}
	return recs
}

// checkOffsets wants the records of ids on one partition at offsets that
// increase in the order of ids.
func checkOffsets(t *testing.T, user string, ids []string, stored []storedRecord) {
	t.Helper()
	at := map[string]storedRecord{}
	for _, s := range stored {
		if _, seen := at[s.ID]; !seen && s.Partition != nil && s.Offset != nil {
			at[s.ID] = s
		}
	}
	for i, id := range ids {
		r, ok := at[id]
		if !ok {
			t.Errorf("%s: purchase %s not in cm-api's log with its partition and offset", user, id)
			return
		}
		if i == 0 {
			continue
		}
		prev := at[ids[i-1]]
		if *r.Partition != *prev.Partition || *r.Offset <= *prev.Offset {
			t.Errorf("%s: purchase %d at %d/%d, the one before at %d/%d; want one partition, increasing offsets",
				user, i, *r.Partition, *r.Offset, *prev.Partition, *prev.Offset)
		}
	}
}
