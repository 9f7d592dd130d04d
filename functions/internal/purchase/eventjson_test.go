package purchase

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// marshalEventJSON is how the event's data was written before eventJSON
// appended it: encoding/json with this struct. eventJSON must not differ
// from it by a byte, or events from before and after would not compare.
func marshalEventJSON(p Purchase) []byte {
	type eventData struct {
		Username  string `json:"username"`
		UserID    string `json:"userid"`
		Price     Money  `json:"price"`
		Timestamp string `json:"timestamp"`
	}
	data, err := json.Marshal(eventData{p.Username, p.UserID, p.Price, FormatTime(p.Timestamp)})
	if err != nil {
		panic(err) // every field is a string or Money: cannot happen
	}
	return data
}

// FuzzEventJSON: eventJSON writes every purchase, valid or not, exactly as
// encoding/json does, escapes, invalid UTF-8, odd prices and years included.
func FuzzEventJSON(f *testing.F) {
	f.Add("joe", "005", int64(119530), int64(1717170872), int64(204e6))
	f.Add("Zoë O'Brien", "", int64(0), int64(0), int64(0))
	f.Add("<script>&amp;</script>", "a\u2028b\u2029c", int64(1), int64(-1), int64(1))
	f.Add("\xff\xe2\x80 \xed\xa0\x80 \uFFFD", "\"\\/", int64(-1), int64(-62135596800), int64(999999999))
	f.Add("\x00\x01\b\f\n\r\t\x1f\x7f", "\u200e\u202e\U0001F469\u200d\U0001F4BB", int64(-150), int64(253402300800), int64(0))
	f.Add("x", "y", int64(math.MaxInt64), int64(math.MaxInt64), int64(-1))
	f.Add("x", "y", int64(math.MinInt64), int64(math.MinInt64), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, username, userid string, price, sec, nsec int64) {
		p := Purchase{Username: username, UserID: userid, Price: Money(price), Timestamp: time.Unix(sec, nsec)}
		if got, want := eventJSON(p), marshalEventJSON(p); !bytes.Equal(got, want) {
			t.Fatalf("eventJSON(%+v):\ngot  %s\nwant %s", p, got, want)
		}
	})
}
