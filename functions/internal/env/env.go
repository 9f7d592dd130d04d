// Package env reads a function's settings from environment variables through
// an injected lookup function, so tests can pass a map instead of the process
// environment.
//
// Kept rather than a struct-tag library (envconfig and the like): every
// setting here has a range, and one call per variable with its default and
// bounds in line is what docs/configuration.md is checked against; and all
// bad variables are reported at once.
package env

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Lookup has the signature of os.LookupEnv.
type Lookup func(key string) (string, bool)

// Reader reads typed settings and remembers every problem, so a Config
// can be filled in a straight line and checked once.
type Reader struct {
	lookup Lookup
	errs   []string
}

// NewReader returns a Reader over lookup.
func NewReader(lookup Lookup) *Reader { return &Reader{lookup: lookup} }

// String returns the value of key, or def when it is unset or empty.
func (r *Reader) String(key, def string) string {
	if v, ok := r.lookup(key); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// List returns the comma-separated values of key, or def when unset.
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
	s := r.String(key, "")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		r.errs = append(r.errs, fmt.Sprintf("%s=%q: want an integer from %d to %d", key, s, min, max))
		return def
	}
	return n
}

// Duration returns key as a positive Go duration ("5s", "250ms"), or def.
func (r *Reader) Duration(key string, def time.Duration) time.Duration {
	s := r.String(key, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		r.errs = append(r.errs, fmt.Sprintf("%s=%q: want a positive duration such as 5s", key, s))
		return def
	}
	return d
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
	authority, path, _ := strings.Cut(rest, "/")
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return s
	}
	out := scheme + "://REDACTED@" + authority[at+1:]
	if path != "" || strings.Contains(rest, "/") {
		out += "/" + path
	}
	return out
}

// Bool returns key as a boolean (true/false, 1/0, yes/no), or def.
func (r *Reader) Bool(key string, def bool) bool {
	switch s := strings.ToLower(r.String(key, "")); s {
	case "":
		return def
	case "true", "1", "yes", "on":
		return true
	case "false", "0", "no", "off":
		return false
	default:
		r.errs = append(r.errs, fmt.Sprintf("%s=%q: want true or false", key, s))
		return def
	}
}

// Float returns key as a number within [min, max], or def.
func (r *Reader) Float(key string, def, min, max float64) float64 {
	s := r.String(key, "")
	if s == "" {
		return def
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < min || f > max {
		r.errs = append(r.errs, fmt.Sprintf("%s=%q: want a number from %g to %g", key, s, min, max))
		return def
	}
	return f
}
