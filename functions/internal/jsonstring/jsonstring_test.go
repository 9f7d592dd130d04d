package jsonstring

import (
	"encoding/json"
	"testing"
)

// FuzzAppend: Append writes every string, valid UTF-8 or not, exactly as
// encoding/json does.
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "0193b0e6-7e1a-7b3c-9f00-0123456789ab", `a"b`, `a\b`, "<script>&amp;</script>",
		"é", "\xff\xe2\x80", "\u2028\u2029", "\x00\x01\b\f\n\r\t\x1f\x7f", "\U0001F469\u200d\U0001F4BB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := Append([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("Append(%q) = %s, encoding/json writes %s", s, got[1:], want)
		}
	})
}
