package main

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

func TestStatusKB(t *testing.T) {
	t.Parallel()
	status := "Name:\tcm-api\nVmPeak:\t  812345 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   17408 kB\nThreads:\t7\n"
	tests := []struct {
		key     string
		want    int64
		wantErr bool
	}{
		{"VmRSS", 17408, false},
		{"VmHWM", 20480, false},
		{"Threads", 0, true}, // no kB unit
		{"VmSwap", 0, true},  // missing
	}
	for _, tt := range tests {
		got, err := statusKB(bufio.NewScanner(strings.NewReader(status)), tt.key)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("statusKB(%s) = %d, %v; want %d, error %v", tt.key, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRSSMiB_of_this_process(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc on this system")
	}
	got, err := rssMiB(os.Getpid())
	if err != nil || got <= 0 {
		t.Errorf("rssMiB(self) = %v, %v; want a positive size", got, err)
	}
}
