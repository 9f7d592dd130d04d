package env_test

import (
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017"},
		{"mongodb://user:s3cret@h1:27017,h2:27017/shop?replicaSet=rs0", "mongodb://REDACTED@h1:27017,h2:27017/shop?replicaSet=rs0"},
		{"mongodb+srv://u:p%40ss@cluster.example.com/?tls=true", "mongodb+srv://REDACTED@cluster.example.com/?tls=true"},
		{"http://a:b@sink", "http://REDACTED@sink"},
		{"not a url", "not a url"},
	}
	for _, tt := range tests {
		if got := env.RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q): got %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(env.RedactURL(tt.in), "s3cret") {
			t.Errorf("RedactURL(%q) leaks the password", tt.in)
		}
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	r := env.NewReader(apitest.Lookup(map[string]string{
		"LIST": " a, ,b ", "N": "7", "BAD_N": "x", "D": "250ms", "BAD_D": "-1s", "EMPTY": "  ",
	}))
	if got := r.List("LIST", ""); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("List: got %q, want [a b]", got)
	}
	if got := r.String("EMPTY", "def"); got != "def" {
		t.Errorf("String of blank: got %q, want def", got)
	}
	if got := r.Int("N", 1, 0, 10); got != 7 {
		t.Errorf("Int: got %d, want 7", got)
	}
	if got := r.Duration("D", time.Second); got != 250*time.Millisecond {
		t.Errorf("Duration: got %v, want 250ms", got)
	}
	if r.Err() != nil {
		t.Fatalf("Err before bad values: got %v, want nil", r.Err())
	}
	r.Int("BAD_N", 1, 0, 10)
	r.Duration("BAD_D", time.Second)
	err := r.Err()
	if err == nil || !strings.Contains(err.Error(), "BAD_N") || !strings.Contains(err.Error(), "BAD_D") {
		t.Errorf("Err: got %v, want both BAD_N and BAD_D named", err)
	}
}
