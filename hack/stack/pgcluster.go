package stack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// The PostgreSQL cluster behind the dev store: where the binaries are, who
// the server runs as, and its data folder.

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

// lastLines returns the last n lines of out, for error messages.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
