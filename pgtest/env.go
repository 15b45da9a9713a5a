package pgtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// findBinDir locates initdb and postgres; see ServerOptions.BinDir for the
// search order.
func findBinDir(explicit string) (string, error) {
	if explicit != "" {
		dir, err := checkBinDir(explicit)
		if err != nil {
			return "", fmt.Errorf("pgtest: ServerOptions.BinDir: %w", err)
		}
		return dir, nil
	}
	if env := os.Getenv(EnvBinDir); env != "" {
		dir, err := checkBinDir(env)
		if err != nil {
			return "", fmt.Errorf("pgtest: $%s: %w", EnvBinDir, err)
		}
		return dir, nil
	}

	var candidates []string
	if pgConfig, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.Command(pgConfig, "--bindir").Output(); err == nil {
			candidates = append(candidates, strings.TrimSpace(string(out)))
		}
	}
	candidates = append(candidates, debianBinDirs()...)
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(initdb); err == nil {
			candidates = append(candidates, filepath.Dir(real))
		}
	}
	for _, dir := range candidates {
		if found, err := checkBinDir(dir); err == nil {
			return found, nil
		}
	}
	return "", fmt.Errorf("pgtest: PostgreSQL server binaries (initdb, postgres) not found in %q, nor via pg_config or $PATH; install them or set $%s",
		candidates, EnvBinDir)
}

// debianBinDirs lists /usr/lib/postgresql/<major>/bin, newest major first.
func debianBinDirs() []string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	major := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	sort.SliceStable(matches, func(i, j int) bool { return major(matches[i]) > major(matches[j]) })
	return matches
}

// checkBinDir returns dir, with symbolic links resolved, if it holds
// executable initdb and postgres binaries. Resolving matters: postgres
// finds its share directory relative to its own location.
func checkBinDir(dir string) (string, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(real, name))
		if err != nil {
			return "", err
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s is not executable", filepath.Join(real, name))
		}
	}
	return real, nil
}

// unprivilegedUsers are the accounts the server binaries may run as when we
// are root, in order of preference. A variable so tests can exercise the
// fallback.
var unprivilegedUsers = []string{"postgres", "nobody"}

// unprivilegedUser picks the first of unprivilegedUsers that exists.
func unprivilegedUser() (*syscall.Credential, string, error) {
	var errs []error
	for _, name := range unprivilegedUsers {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			errs = append(errs, fmt.Errorf("user %s has unusable uid %q / gid %q", name, u.Uid, u.Gid))
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, name, nil
	}
	return nil, "", fmt.Errorf("pgtest: running as root, and initdb/postgres refuse root, but no user to run them as: %w", errors.Join(errs...))
}

// chownTree gives dir and everything in it to uid:gid.
func chownTree(dir string, uid, gid int) error {
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("pgtest: handing %s to uid %d: %w", dir, uid, err)
	}
	return nil
}

// checkSearchable verifies that the user described by cred may traverse dir
// and each of its ancestors, which postgres needs to reach its data
// directory. Supplementary groups are not considered.
func checkSearchable(dir string, cred *syscall.Credential, name string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil // cannot tell; let postgres find out
		}
		mode := fi.Mode().Perm()
		var can bool
		switch {
		case st.Uid == cred.Uid:
			can = mode&0o100 != 0
		case st.Gid == cred.Gid:
			can = mode&0o010 != 0
		default:
			can = mode&0o001 != 0
		}
		if !can {
			return fmt.Errorf("pgtest: running as root, so postgres runs as user %s (uid %d), which cannot search %s (mode %v); "+
				"put the data directory elsewhere (ServerOptions.Dir, or $TMPDIR for temporary ones), e.g. under /tmp",
				name, cred.Uid, d, mode)
		}
		if parent := filepath.Dir(d); parent == d {
			return nil
		}
	}
}
