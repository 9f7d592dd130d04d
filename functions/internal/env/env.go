// Package env reads a function's settings from environment variables through
// an injected lookup function, so tests can pass a map. One call per variable,
// with its default and bounds, rather than struct tags: docs/configuration.md
// is checked against these calls, and every bad variable is reported at once.
package env

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Lookup has the signature of os.LookupEnv.
type Lookup func(key string) (string, bool)

// Reader reads typed settings and remembers every problem, so a Config can be
// filled in a straight line and checked once.
type Reader struct {
	lookup Lookup
	errs   []string
}

// NewReader returns a Reader over lookup.
func NewReader(lookup Lookup) *Reader { return &Reader{lookup: lookup} }

// String returns the value of key, trimmed, or def when it is unset or blank.
func (r *Reader) String(key, def string) string {
	if v, ok := r.lookup(key); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// List returns the comma-separated values of key, or def's.
func (r *Reader) List(key, def string) []string {
	var out []string
	for _, v := range strings.Split(r.String(key, def), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Int returns key as an integer within [min, max], or def.
func (r *Reader) Int(key string, def, min, max int) int {
	return parse(r, key, def, fmt.Sprintf("an integer from %d to %d", min, max), func(s string) (int, bool) {
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= min && n <= max
	})
}

// Float returns key as a number within [min, max], or def.
func (r *Reader) Float(key string, def, min, max float64) float64 {
	return parse(r, key, def, fmt.Sprintf("a number from %g to %g", min, max), func(s string) (float64, bool) {
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil && f >= min && f <= max
	})
}

// Duration returns key as a positive Go duration ("5s", "250ms"), or def.
func (r *Reader) Duration(key string, def time.Duration) time.Duration {
	return parse(r, key, def, "a positive duration such as 5s", func(s string) (time.Duration, bool) {
		d, err := time.ParseDuration(s)
		return d, err == nil && d > 0
	})
}

// Bool returns key as a boolean (true/false, 1/0, yes/no, on/off), or def.
func (r *Reader) Bool(key string, def bool) bool {
	return parse(r, key, def, "true or false", func(s string) (bool, bool) {
		switch strings.ToLower(s) {
		case "true", "1", "yes", "on":
			return true, true
		case "false", "0", "no", "off":
			return false, true
		}
		return false, false
	})
}

// parse returns key's value as conv reads it, or def when key is unset or
// conv refuses it; a refusal is recorded, saying what is wanted.
func parse[T any](r *Reader, key string, def T, want string, conv func(string) (T, bool)) T {
	s := r.String(key, "")
	if s == "" {
		return def
	}
	v, ok := conv(s)
	if !ok {
		r.Fail("%s=%q: want %s", key, s, want)
		return def
	}
	return v
}

// Fail records a problem found by the caller's own checks.
func (r *Reader) Fail(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// Err returns every problem seen so far as one error, or nil.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %s", strings.Join(r.errs, "; "))
}

// RedactURL hides the user info (credentials) of a URL such as a MongoDB
// connection string, which may list several hosts and so not parse as a URL.
func RedactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	authority, path, hasPath := strings.Cut(rest, "/")
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return s
	}
	out := scheme + "://REDACTED@" + authority[at+1:]
	if hasPath {
		out += "/" + path
	}
	return out
}
