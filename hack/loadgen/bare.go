package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// serveBareCmd is the hidden subcommand that runs the bare handler, the
// reference of the CPU scenario, in a process of its own.
const serveBareCmd = "serve-bare"

// bareURLPrefix starts the line serve-bare prints once it listens.
const bareURLPrefix = "BARE_URL="

// serveBare serves the bare handler on a free loopback port until ctx ends,
// after printing its URL. It does what any Go handler of a purchase must:
// read the body, decode the same JSON, check it is there, make an id and
// answer in the same shape; nothing is sent or stored. Its CPU time per
// request is the floor under cm-server's and cm-api's.
func serveBare(ctx context.Context, stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: bareHandler(), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintln(stdout, bareURLPrefix+"http://"+ln.Addr().String())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bareHandler answers POST /buy as cm-server does (202 with a new id) and
// POST / as cm-api does (200 with the event's id), after decoding the body.
func bareHandler() http.Handler {
	decode := func(w http.ResponseWriter, r *http.Request) bool {
		var d eventData
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err == nil {
			err = json.Unmarshal(body, &d)
		}
		if err != nil || d.Username == "" || d.UserID == "" || d.Price == "" {
			http.Error(w, `{"status":"Error"}`, http.StatusBadRequest)
			return false
		}
		return true
	}
	answer := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /buy", func(w http.ResponseWriter, r *http.Request) {
		if decode(w, r) {
			answer(w, http.StatusAccepted, map[string]string{"status": "Ok!",
				"message": "Message successfully sent to Kafka!", "id": uuid.Must(uuid.NewV7()).String()})
		}
	})
	mux.HandleFunc("POST /{$}", func(w http.ResponseWriter, r *http.Request) {
		if decode(w, r) {
			answer(w, http.StatusOK, map[string]any{"status": "Ok!", "id": r.Header.Get("Ce-Id"), "duplicate": false})
		}
	})
	return mux
}
