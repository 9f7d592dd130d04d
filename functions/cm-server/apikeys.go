package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"os"
	"strings"
)

// apiKeys are the bearer keys of service clients: a key may buy for any
// user and read any user's purchases. Only
// their SHA-256 digests are kept, and every check compares against all of
// them in constant time, so neither a key nor its length leaks by timing.
type apiKeys struct {
	digests [][sha256.Size]byte
}

// loadAPIKeys reads keys from API_KEYS (comma-separated) and API_KEYS_FILE
// (one per line, # comments; a mounted Secret). No keys: authentication off.
func loadAPIKeys(list []string, file string) (apiKeys, error) {
	keys := append([]string(nil), list...)
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return apiKeys{}, fmt.Errorf("read API_KEYS_FILE: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
				keys = append(keys, line)
			}
		}
		if err := sc.Err(); err != nil {
			return apiKeys{}, fmt.Errorf("read API_KEYS_FILE: %w", err)
		}
	}
	var k apiKeys
	for _, key := range keys {
		if len(key) < 16 {
			return apiKeys{}, fmt.Errorf("an API key is shorter than 16 characters")
		}
		k.digests = append(k.digests, sha256.Sum256([]byte(key)))
	}
	return k, nil
}

func (k apiKeys) enabled() bool { return len(k.digests) > 0 }

// match returns the index of the key that token is, comparing with all.
func (k apiKeys) match(token string) (int, bool) {
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range k.digests {
		if subtle.ConstantTimeCompare(d[:], k.digests[i][:]) == 1 {
			found = i
		}
	}
	return found, found >= 0
}
