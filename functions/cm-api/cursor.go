package main

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// cursor is the position after the last purchase of a page, in list order.
type cursor struct {
	Timestamp time.Time `json:"t"`
	ID        string    `json:"i"`
}

// encodeCursor makes the opaque next_cursor clients pass back.
func encodeCursor(c cursor) string {
	data, _ := json.Marshal(c) // a time and a string always marshal
	return base64.RawURLEncoding.EncodeToString(data)
}

// decodeCursor reads a cursor; anything this service did not make is a 400.
func decodeCursor(s string) (cursor, error) {
	bad := server.BadRequest("cursor", "is not a cursor this service returned")
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	var c cursor
	if err := json.Unmarshal(data, &c); err != nil || c.ID == "" || c.Timestamp.IsZero() {
		return cursor{}, bad
	}
	return c, nil
}
