package purchase

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Money is an amount in minor units (cents). It is stored as an integer so
// that no amount is ever rounded: MongoDB's Decimal128 is not available on
// every wire-compatible store, and floats cannot hold 1195.30 exactly.
type Money int64

// MaxPrice is the largest price a purchase may carry (999,999,999.99). It keeps
// every amount well inside the integers a JSON number or a JavaScript client
// represents exactly.
const MaxPrice Money = 99_999_999_999

// Price problems, named so that callers and tests can tell them apart.
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
	if whole == "" || !allDigits(whole) || (hasDot && (frac == "" || !allDigits(frac))) {
		return 0, errPriceFormat
	}
	if len(frac) > 2 {
		return 0, errPricePrecision
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 9 {
		return 0, errPriceRange
	}
	// At most 11 checked digits, the fraction padded to two: the sum cannot
	// overflow and stays within MaxPrice.
	var units Money
	for i := 0; i < len(whole); i++ {
		units = units*10 + Money(whole[i]-'0')
	}
	for i := range 2 {
		units *= 10
		if i < len(frac) {
			units += Money(frac[i] - '0')
		}
	}
	return units, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
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
