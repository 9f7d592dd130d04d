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

// Page asks for at most Limit of a user's purchases, after the position an
// earlier page's cursor names.
type Page struct {
	Limit  int
	Cursor string // opaque to everyone but the store that made it
}

// ParseList reads a list request, the {username} path segment and
// ?limit= and ?cursor=, by the same rules in both functions, so cm-server
// refuses a bad request before asking cm-api.
func ParseList(username string, q url.Values) (string, Page, error) {
	name, err := checkText(username, MaxUsernameLen)
	if err != nil {
		return "", Page{}, invalid("username", err.Error())
	}
	page := Page{Limit: DefaultLimit, Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return "", Page{}, invalid("limit", "must be an integer from 1 to "+strconv.Itoa(MaxLimit))
		}
		page.Limit = n
	}
	if len(page.Cursor) > maxCursorBytes || !cursorBytes.all(page.Cursor) {
		return "", Page{}, invalid("cursor", "is not a cursor this service returned")
	}
	return name, page, nil
}

// Query writes the page back as query parameters.
func (p Page) Query() url.Values {
	q := url.Values{"limit": {strconv.Itoa(p.Limit)}}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	return q
}
