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

// TestOrderPerUser holds the "order per user" guarantee: each user's
// purchases, bought one after the other and interleaved with other users',
// are consumed in the order they were bought, through both transports. In
// Kafka mode they share one partition at increasing offsets (cm-api writes
// a partition's records concurrently, so offsets, not the log's order, are
// the consumed order); through the KafkaSink and the ordered KafkaSource
// cm-api receives them one by one in that order.
func TestOrderPerUser(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	for _, mode := range []string{"kafka", "knative"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			shop := harness.NewShop(t, brokers, harness.MongoURI(t))
			if mode == "kafka" {
				shop.StartAPI(true, nil)
				shop.StartServer("", nil)
			} else {
				shop.StartAPI(false, nil)
				shop.StartKafkaSource(1)
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
				waitForPurchases(t, shop, user, ids...)
			}
			stored := storedLog(t, shop.API.Output())
			for user, ids := range sent {
				if mode == "kafka" {
					checkOffsets(t, user, ids, stored)
					continue
				}
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
		})
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
