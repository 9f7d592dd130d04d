package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// storedEvents is how many purchase events cm-api, whose metrics port is
// at url, has written to the store, new or already there: the sum of its shop_events_total
// counters for the results stored and duplicate. cm-api counts an event
// only after its batch's majority-acknowledged insertMany returned.
func storedEvents(ctx context.Context, client *http.Client, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	return sumCounters(resp.Body, "shop_events_total", `result="stored"`, `result="duplicate"`)
}

// sumCounters adds up the samples of metric, in the Prometheus text format
// read from r, whose labels include any of labels.
func sumCounters(r io.Reader, metric string, labels ...string) (int64, error) {
	var sum int64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, metric+"{")
		if !ok {
			continue
		}
		lbls, value, ok := strings.Cut(rest, "} ")
		if !ok || !slices.ContainsFunc(strings.Split(lbls, ","), func(l string) bool { return slices.Contains(labels, l) }) {
			continue
		}
		value, _, _ = strings.Cut(strings.TrimSpace(value), " ") // a timestamp may follow
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += int64(v)
	}
	return sum, sc.Err()
}
