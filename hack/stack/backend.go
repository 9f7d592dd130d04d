package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Backend is where the embedded FerretDB keeps its data. Its values are
// FerretDB's handler names.
type Backend string

const (
	// BackendAuto is PostgreSQL when it starts, else SQLite.
	BackendAuto Backend = ""
	// BackendPostgreSQL keeps the data in a PostgreSQL cluster run from the
	// machine's binaries (StartPostgres). Queries by a top-level field with
	// a MongoDB index are served by an index (see ginIndexSQL).
	BackendPostgreSQL Backend = "postgresql"
	// BackendSQLite keeps the data in SQLite files. FerretDB 1.x reads the
	// whole collection for every query but one by _id alone, so queries
	// slow down as the store grows.
	BackendSQLite Backend = "sqlite"
)

// ParseBackend reads a backend name: "postgresql", "sqlite", or "" / "auto".
func ParseBackend(s string) (Backend, error) {
	switch b := Backend(s); b {
	case BackendPostgreSQL, BackendSQLite:
		return b, nil
	case BackendAuto, "auto":
		return BackendAuto, nil
	default:
		return "", fmt.Errorf("unknown store backend %q: want postgresql, sqlite or auto", s)
	}
}

// WithBackend chooses StartMongo's backend; the default is BackendAuto.
func WithBackend(b Backend) Option {
	return func(o *config) { o.backend = b }
}

// startBackend starts what FerretDB keeps its data in under dir: PostgreSQL
// (returned) or nothing for SQLite. Under BackendAuto, a PostgreSQL that does
// not start is not an error: SQLite is used and fallback says why.
func startBackend(ctx context.Context, dir string, o config) (backend Backend, pg *Postgres, fallback, err error) {
	if o.backend == BackendSQLite {
		return BackendSQLite, nil, nil, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, nil, fmt.Errorf("create data directory: %w", err)
	}
	// As root, the server runs as the postgres user, which must pass
	// through dir to reach its cluster.
	if os.Geteuid() == 0 {
		if err := os.Chmod(dir, 0o711); err != nil {
			return "", nil, nil, fmt.Errorf("open data directory to the postgres user: %w", err)
		}
	}
	pg, err = StartPostgres(ctx, filepath.Join(dir, "postgresql"), WithLogOutput(o.logOutput))
	switch {
	case err == nil:
		return BackendPostgreSQL, pg, nil, nil
	case o.backend == BackendPostgreSQL:
		return "", nil, nil, err
	default:
		return BackendSQLite, nil, err, nil
	}
}

// MkdirTemp makes a new temporary folder for StartMongo's data. As root it
// is opened to searching (0711), so that the postgres user can reach the
// cluster inside; os.MkdirTemp's 0700 would make StartMongo fall back to
// SQLite.
func MkdirTemp(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	if os.Geteuid() == 0 {
		if err := os.Chmod(dir, 0o711); err != nil {
			return "", errors.Join(err, os.RemoveAll(dir))
		}
	}
	return dir, nil
}
