package purchase

import (
	"net/url"
	"strconv"
)

// Paging limits for purchase lists.
const (
	DefaultLimit   = 100
	MaxLimit       = 1000
	maxCursorBytes = 256
)

// Page asks for one page of a user's purchases: at most Limit of them,
// starting after the position an earlier page's cursor names.
type Page struct {
	Limit  int
	Cursor string // opaque to everyone but the store that made it
}

// ParsePage reads ?limit= and ?cursor= from a query string. Both functions
// use it, so cm-server rejects a bad page before asking cm-api.
func ParsePage(q url.Values) (Page, error) {
	p := Page{Limit: DefaultLimit, Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return Page{}, invalid("limit", "must be an integer from 1 to "+strconv.Itoa(MaxLimit))
		}
		p.Limit = n
	}
	if len(p.Cursor) > maxCursorBytes || !isBase64URL(p.Cursor) {
		return Page{}, invalid("cursor", "is not a cursor this service returned")
	}
	return p, nil
}

// ParseList reads a list request: the {username} path segment and the page.
// Both functions' list endpoints take the same input.
func ParseList(username string, q url.Values) (string, Page, error) {
	name, err := ParseUsername(username)
	if err != nil {
		return "", Page{}, invalid("username", err.Error())
	}
	page, err := ParsePage(q)
	return name, page, err
}

// Query writes the page back as query parameters.
func (p Page) Query() url.Values {
	q := url.Values{"limit": {strconv.Itoa(p.Limit)}}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	return q
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
