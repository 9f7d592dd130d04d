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
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
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

// postgresInstallGlob matches the server binaries of Debian's packages.
var postgresInstallGlob = "/usr/lib/postgresql/*/bin/postgres"

// postgresBinDir finds the directory holding postgres and initdb: on PATH,
// else the newest version under Debian's /usr/lib/postgresql.
func postgresBinDir() (string, error) {
	if path, err := exec.LookPath("postgres"); err == nil {
		if dir := filepath.Dir(path); executable(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	versions, _ := filepath.Glob(postgresInstallGlob)
	slices.SortFunc(versions, func(a, b string) int { return pgMajor(b) - pgMajor(a) })
	for _, path := range versions {
		if dir := filepath.Dir(path); executable(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	return "", ErrNoPostgres
}

// pgMajor reads the major version out of /usr/lib/postgresql/<N>/bin/postgres.
func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// postgresCredential is who the server runs as: nil (this process's user),
// or, as root, the postgres system user.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root and there is no postgres user to run it as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user id %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres group id %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// prepareClusterDir creates dir (absolute) for the server's user: mode 0700 (initdb
// insists), owned by that user, below folders that user can search.
func prepareClusterDir(dir string, cred *syscall.Credential) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create postgres data directory: %w", err)
	}
	if cred == nil {
		return nil
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("hand %s to the postgres user: %w", dir, err)
	}
	for parent := filepath.Dir(dir); ; parent = filepath.Dir(parent) {
		if !searchable(parent, cred) {
			return fmt.Errorf("the postgres user cannot reach %s: %s is not searchable by it (chmod o+x, or keep the data elsewhere)", dir, parent)
		}
		if parent == filepath.Dir(parent) {
			return nil
		}
	}
}

// searchable says whether the user of cred may pass through the folder dir.
func searchable(dir string, cred *syscall.Credential) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	mode := fi.Mode().Perm()
	switch {
	case st.Uid == cred.Uid:
		return mode&0o100 != 0
	case st.Gid == cred.Gid:
		return mode&0o010 != 0
	default:
		return mode&0o001 != 0
	}
}

// initCluster creates a cluster in dir whose superuser needs no password on
// loopback (the server listens nowhere else).
func initCluster(ctx context.Context, bin, dir string, cred *syscall.Credential) error {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", dir, "-U", pgSuperuser, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = "/" // the postgres user may not be able to read our working directory
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("create postgres cluster in %s: %w: %s", dir, err, lastLines(out, 2))
	}
	return nil
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

// lastLines returns the last n lines of out, for error messages.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
