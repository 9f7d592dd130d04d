package main

import (
	"context"
	"io"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

func dlqList(ctx context.Context, args []string, lookup env.Lookup, stdout, stderr io.Writer) error {
	return usagef("not yet")
}
