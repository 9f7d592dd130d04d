package purchase

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// FuzzJSONString: jsonString reads every input exactly as json.Unmarshal
// into a string does, whichever path it takes.
func FuzzJSONString(f *testing.F) {
	for _, seed := range []string{`"joe"`, `""`, `"a\"b"`, `"\u00e9"`, `"é"`, "\"\xff\"", "\"a\tb\"", `"a\\b"`,
		`"2024-05-31T15:54:32.204Z"`, `12`, `null`, `"`, `"a"b"`, ` "x"`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := jsonString(raw)
		var want string
		err := json.Unmarshal(raw, &want)
		if ok != (err == nil) || got != want {
			t.Errorf("jsonString(%q) = %q, %v; json.Unmarshal: %q, %v", raw, got, ok, want, err)
		}
	})
}

// FuzzCheckText holds checkText's printable-ASCII pass to the full checks.
func FuzzCheckText(f *testing.F) {
	for _, s := range []string{"joe", "", " joe", "joe ", ".", "..", "...", "a b", "é", "a\tb", "\u2028", "\x7f", strings.Repeat("x", 101)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gotErr := checkText(s, MaxUsernameLen)
		want, wantErr := checkTextAs(s, MaxUsernameLen, false)
		if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Errorf("checkText(%q) = %q, %v; the full checks: %q, %v", s, got, gotErr, want, wantErr)
		}
	})
}
