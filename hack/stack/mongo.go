package stack

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// newMu serialises ferretdb.New, which writes package-level version state,
// so that tests may start several instances concurrently.
var newMu sync.Mutex

// Mongo is an embedded FerretDB speaking the MongoDB wire protocol, keeping
// its data under a directory, so it survives restarts: in a PostgreSQL
// cluster it runs (see StartPostgres), or in SQLite files.
type Mongo struct {
	uri      string
	addr     string
	backend  Backend
	fallback error     // why PostgreSQL is not used, under BackendAuto
	pg       *Postgres // nil on SQLite
	cancel   context.CancelFunc
	done     chan struct{}
	once     sync.Once
}

// StartMongo starts FerretDB listening on addr (port 0 picks a free port)
// with its data under dir, which is created if missing: on PostgreSQL (in
// dir/postgresql) or SQLite (in dir), as WithBackend says; by default
// PostgreSQL when it starts, else SQLite, and Fallback says why.
// Telemetry is off and only warnings and errors are logged (see
// WithLogOutput). Stopping and starting again on the same addr and dir keeps
// the data. ctx bounds start-up only; call Close to stop the server.
func StartMongo(ctx context.Context, addr, dir string, opts ...Option) (*Mongo, error) {
	o := applyOptions(opts)
	laddr, err := loopbackAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("start mongo: %w", err)
	}
	backend, pg, fallback, err := startBackend(ctx, dir, o)
	if err != nil {
		return nil, fmt.Errorf("start mongo: %w", err)
	}
	closePG := func() {
		if pg != nil {
			pg.Close()
		}
	}
	// ferretdb.New leaks its backend when it cannot listen, and FerretDB
	// panics the whole process when the garbage collector finds that
	// unclosed backend. So make sure a given port is free first. Port 0 is
	// left to FerretDB's own listen: a port probed free and released could
	// be taken by another start before FerretDB binds it (make test once
	// crashed so).
	if _, port, _ := net.SplitHostPort(laddr); port != "0" {
		if laddr, err = probeAddr(ctx, laddr); err != nil {
			closePG()
			return nil, fmt.Errorf("start mongo: %w", err)
		}
	}

	fc := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: laddr},
		Handler:  string(backend),
		Logger:   slog.New(quietHandler{o.logger("ferretdb").Handler()}),
	}
	if pg != nil {
		fc.PostgreSQLURL = pg.URL()
	} else if fc.SQLiteURL, err = sqliteURL(dir); err != nil {
		return nil, fmt.Errorf("start mongo: %w", err)
	}
	newMu.Lock()
	f, err := ferretdb.New(fc)
	newMu.Unlock()
	if err != nil {
		closePG()
		return nil, fmt.Errorf("start mongo on %s: %w", laddr, err)
	}

	// New has already bound the listener, so the URI carries the real port.
	runCtx, cancel := context.WithCancel(context.Background())
	m := &Mongo{uri: f.MongoDBURI(), backend: backend, fallback: fallback, pg: pg, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		_ = f.Run(runCtx) // always nil; it returns once everything is closed
		closePG()
	}()

	u, err := url.Parse(m.uri)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("start mongo: parse uri %q: %w", m.uri, err)
	}
	m.addr = u.Host
	if err := waitListening(ctx, m.addr); err != nil {
		m.Close()
		return nil, fmt.Errorf("start mongo: %w", err)
	}
	return m, nil
}

// URI returns the connection string, mongodb://host:port/.
func (m *Mongo) URI() string { return m.uri }

// Backend says where the data is kept.
func (m *Mongo) Backend() Backend { return m.backend }

// PostgreSQLURL is the connection string of the PostgreSQL database the data
// is kept in, or "" on SQLite: psql reaches the data with it.
func (m *Mongo) PostgreSQLURL() string {
	if m.pg == nil {
		return ""
	}
	return m.pg.URL()
}

// Fallback is why SQLite is used although PostgreSQL was preferred
// (BackendAuto), or nil.
func (m *Mongo) Fallback() error { return m.fallback }

// Addr returns the server's host:port, with the real port if 0 was asked for.
func (m *Mongo) Addr() string { return m.addr }

// Close stops the server and waits until its listener, connections and
// files are closed (and its PostgreSQL has stopped), so the same addr and dir can be reused at once.
// Clients still connected are cut off after FerretDB's grace period of about
// three seconds; disconnect them first for a fast stop. Close is idempotent.
func (m *Mongo) Close() {
	m.once.Do(m.cancel)
	<-m.done
}

// probeAddr listens on addr and closes the listener again, returning the
// address with the port that was bound.
func probeAddr(ctx context.Context, addr string) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	bound := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("release %s: %w", bound, err)
	}
	return bound, nil
}

// sqliteURL turns dir into the file: URI FerretDB wants: absolute, existing,
// with a trailing slash.
func sqliteURL(dir string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("empty data directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("data directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs) + "/"}
	return u.String(), nil
}
