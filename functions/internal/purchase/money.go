package purchase

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Money is an amount in cents. An integer never rounds: floats cannot hold
// 1195.30 exactly, and not every MongoDB-compatible store has Decimal128.
type Money int64

// MaxPrice is the largest price (999,999,999.99), well inside the integers
// a JSON number or a JavaScript client represents exactly.
const MaxPrice Money = 99_999_999_999

var (
	errPriceType      = errors.New("must be a decimal string or number, e.g. \"1195.30\"")
	errPriceNegative  = errors.New("must not be negative")
	errPriceFormat    = errors.New("must be digits with an optional '.' and one or two decimals, e.g. \"1195.30\"")
	errPricePrecision = errors.New("must have at most 2 decimal places")
	errPriceRange     = errors.New("must be at most 999999999.99")
)

// ParseMoney reads a price given as a JSON string ("1195.30") or a JSON number
// (1195.3). It rejects rather than rounds: more than two decimals, negative
// amounts, exponents and amounts above MaxPrice are errors.
func ParseMoney(raw json.RawMessage) (Money, error) {
	text := bytes.TrimSpace(raw)
	if len(text) == 0 {
		return 0, errPriceType
	}
	switch text[0] {
	case '"':
		s, ok := jsonString(text)
		if !ok {
			return 0, errPriceType
		}
		return parseDecimal(s)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return parseDecimal(string(text))
	default:
		return 0, errPriceType
	}
}

// parseDecimal parses an unsigned decimal with at most two fraction digits.
func parseDecimal(s string) (Money, error) {
	if strings.HasPrefix(s, "-") {
		return 0, errPriceNegative
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || !digits.all(whole) || (hasDot && (frac == "" || !digits.all(frac))) {
		return 0, errPriceFormat
	}
	if len(frac) > 2 {
		return 0, errPricePrecision
	}
	if len(strings.TrimLeft(whole, "0")) > 9 {
		return 0, errPriceRange
	}
	whole64, _ := strconv.ParseInt(whole, 10, 64)
	cents, _ := strconv.ParseInt((frac + "00")[:2], 10, 64)
	return Money(whole64*100 + cents), nil
}

// String formats the amount with exactly two decimals: 119530 -> "1195.30".
func (m Money) String() string {
	return fmt.Sprintf("%d.%02d", int64(m)/100, int64(m)%100)
}

// MarshalJSON writes the amount as a decimal string, the shape clients send.
func (m Money) MarshalJSON() ([]byte, error) {
	return []byte(`"` + m.String() + `"`), nil
}

// UnmarshalJSON accepts the same forms as ParseMoney.
func (m *Money) UnmarshalJSON(data []byte) error {
	v, err := ParseMoney(data)
	if err != nil {
		return fmt.Errorf("price: %w", err)
	}
	*m = v
	return nil
}
