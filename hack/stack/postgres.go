package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoPostgres means no PostgreSQL server binaries were found: StartMongo
// falls back to FerretDB's SQLite backend.
var ErrNoPostgres = errors.New("PostgreSQL is not installed (Debian: apt-get install postgresql)")

// Postgres is a PostgreSQL server run from the machine's binaries as a child
// process, the backend behind FerretDB for the dev store. It takes no TCP
// connections: it listens on a Unix socket in a private temporary folder
// (only its user and root may connect, without a password), and keeps its
// cluster in a directory that survives restarts.
type Postgres struct {
	sockets string // the folder of its Unix socket
	cmd     *exec.Cmd
	done    chan struct{} // closed when the server process has exited
	err     error         // its exit status, once done is closed
	once    sync.Once
}

// pgSuperuser is the cluster's superuser, the role FerretDB connects as.
const pgSuperuser = "shop"

// pgDatabase is the PostgreSQL database FerretDB keeps every MongoDB
// database in (one schema each).
const pgDatabase = "ferretdb"

// StartPostgres starts PostgreSQL with its cluster in dir, creating the
// cluster (initdb) when dir holds none, and prepares it for FerretDB (see
// Postgres.prepare). PostgreSQL refuses to run as root: as root the server
// runs as the "postgres" system user, which then owns dir and must be able
// to reach it. ctx bounds start-up; Close stops the server. The server also
// stops when this process dies.
func StartPostgres(ctx context.Context, dir string, opts ...Option) (*Postgres, error) {
	o := applyOptions(opts)
	dir, err := filepath.Abs(dir) // the server runs in /
	if err != nil {
		return nil, fmt.Errorf("postgres data directory: %w", err)
	}
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	if err := prepareClusterDir(dir, cred); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := initCluster(ctx, bin, dir, cred); err != nil {
			return nil, err
		}
	}
	sockets, err := socketDir(cred)
	if err != nil {
		return nil, err
	}
	p, err := startServer(bin, dir, sockets, cred, o.logger("postgres"))
	if err != nil {
		_ = os.RemoveAll(sockets)
		return nil, err
	}
	if err := p.prepare(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// URL returns the connection string of FerretDB's database.
func (p *Postgres) URL() string { return p.urlFor(pgDatabase) }

// urlFor is the connection string of database, through the server's socket.
func (p *Postgres) urlFor(database string) string {
	return fmt.Sprintf("postgres://%s@/%s?host=%s", pgSuperuser, database, url.QueryEscape(p.sockets))
}

// Close stops the server with a fast shutdown (open sessions are ended,
// committed work is kept) and waits for it to exit. Close is idempotent.
func (p *Postgres) Close() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		_ = os.RemoveAll(p.sockets)
	})
}

// serverSettings are the dev store's settings, passed on the command line so
// that they hold for a cluster created by an earlier version too.
func serverSettings(sockets string) []string {
	settings := []string{
		"listen_addresses=", // no TCP: a port would be one more to collide with
		"unix_socket_directories=" + sockets,
		"unix_socket_permissions=0700",
		// FerretDB sends `_jsonb -> $1 @> $2` with the field name as a
		// parameter: only a custom plan sees the name and so can use an
		// expression index on (_jsonb -> 'username').
		"plan_cache_mode=force_custom_plan",
		"jit=off",                           // compiling a plan costs more than these queries
		"max_parallel_workers_per_gather=0", // keep the dev store to one core per query
		"log_min_messages=warning",
		"log_line_prefix=",
	}
	args := make([]string, 0, 2*len(settings))
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	return args
}

// startServer starts postgres in dir on port in its own process group. Its
// log lines go to log at warn level.
func startServer(bin, dir, sockets string, cred *syscall.Credential, log *slog.Logger) (*Postgres, error) {
	args := append([]string{"-D", dir}, serverSettings(sockets)...)
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGINT}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	p := &Postgres{sockets: sockets, cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child ends, not
		// the process: keep this thread until the server has exited.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("start postgres: %w", err)
			return
		}
		started <- nil
		forwardLines(stderr, log) // until the server exits; Wait closes the pipe
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// forwardLines logs each line r yields, until r ends, but for the server's
// routine LOG lines (start, checkpoints, shutdown) and the refusals it
// answers while starting up, which connect retries through.
func forwardLines(r io.Reader, log *slog.Logger) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "LOG:") || strings.HasSuffix(line, "the database system is starting up") {
			continue
		}
		log.Warn(line)
	}
}

// socketDir makes the private folder of the server's socket, owned by its
// user: a short path in the temporary folder, as a socket's path is limited
// to about 100 bytes.
func socketDir(cred *syscall.Credential) (string, error) {
	dir, err := os.MkdirTemp("", "shop-pg-")
	if err != nil {
		return "", fmt.Errorf("postgres socket folder: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return "", errors.Join(fmt.Errorf("hand the socket folder to the postgres user: %w", err), os.RemoveAll(dir))
		}
	}
	return dir, nil
}
