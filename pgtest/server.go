package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lib/pq"
)

const (
	// EnvBinDir names the environment variable that, when set, tells
	// StartServer where the PostgreSQL server binaries are.
	EnvBinDir = "PG_BINDIR"

	// ReadyTimeout bounds how long StartServer and Server.Start wait for a
	// freshly launched postgres to accept connections.
	ReadyTimeout = 30 * time.Second

	// superuser is the bootstrap role initdb creates; connections use it
	// with the server's password (passwordFile).
	superuser = "postgres"

	// passwordFile, in the data directory, holds the superuser's password,
	// random per cluster, which TCP connections must give (scram-sha-256).
	// A cluster without it (made by an older pgtest) is used without one.
	passwordFile = "pgtest.password"

	// tempPrefix starts the names of temporary directories StartServer
	// creates, so stale ones left by killed test runs can be found.
	tempPrefix = "txhistory-pgtest-"

	// ownerFile, inside such a temporary directory, holds the process id
	// of the test binary that created it.
	ownerFile = "owner.pid"

	// maxSocketPath is the longest Unix socket path Linux accepts
	// (sizeof(sun_path) - 1).
	maxSocketPath = 107
)

// ServerOptions configures StartServer. The zero value starts a fast,
// throwaway server on a free port in a new temporary directory.
type ServerOptions struct {
	// Dir is the data directory. Empty means a new temporary directory that
	// Close removes. A non-empty Dir that already holds a cluster (it has a
	// PG_VERSION file) is started as is; otherwise it is created if needed
	// and initialised with initdb. Close never removes a non-empty Dir.
	Dir string

	// Port is the TCP port to listen on, on 127.0.0.1. Zero picks a free
	// port. Either way the port stays the same across Stop and Start.
	Port int

	// BinDir is the directory holding the initdb and postgres binaries.
	// Empty means: $PG_BINDIR if set; else the directory reported by
	// `pg_config --bindir`; else the newest /usr/lib/postgresql/*/bin;
	// else the directory of initdb found on $PATH.
	BinDir string

	// Durable keeps PostgreSQL's crash-safety settings. When false (the
	// default) the server runs with fsync, synchronous_commit and
	// full_page_writes off, which is much faster and loses nothing unless
	// the machine itself crashes. A server killed with SIGKILL still
	// recovers correctly either way.
	Durable bool

	// Log, if set, receives the output of initdb and the server log.
	// Whatever it is, the last part of the log is kept and quoted in errors
	// about a server that failed to start.
	Log io.Writer
}

// Server is a PostgreSQL cluster started from the installed server binaries
// for tests: superuser "postgres" with a random password (DSN gives it),
// listening on 127.0.0.1 only, max_connections=200. TCP connections need
// the password (scram-sha-256), so other users of the machine cannot
// connect as the superuser (whose COPY ... TO PROGRAM runs commands as the
// user running the server); the Unix socket, in the data directory that
// only that user can enter, trusts. Its methods are safe for concurrent
// use.
//
// The postgres process is a direct child of the test binary. On Linux it is
// started with a parent-death signal (SIGQUIT, PostgreSQL's immediate
// shutdown), so it does not outlive a test binary that is killed or panics
// before calling Close. The data directory of a server that was not closed
// is left behind; StartServer removes such temporary directories on the next
// run once their owning process is gone.
//
// When the test binary runs as root, initdb and postgres (which refuse to
// run as root) run as the "postgres" user if it exists and as "nobody"
// otherwise; the data directory is handed over to that user, and every
// directory above it must be searchable by it.
type Server struct {
	binDir  string
	dataDir string
	tempDir string // removed by Close; empty when the caller chose Dir
	durable bool
	log     io.Writer
	cred    *syscall.Credential

	mu       sync.Mutex
	port     int
	portSet  bool // port is fixed: chosen by the caller or used by a successful start
	proc     *process
	closed   bool
	userName string
	password string // the superuser's; empty for a cluster made without one
}

// process is one running postmaster.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the postmaster and every child holding its log pipe are gone
	err  error         // cmd.Wait's result, valid after done
}

// StartServer initialises (if needed) and starts a PostgreSQL server, and
// returns once it accepts connections, or with an error quoting the end of
// the server log. ctx bounds the whole operation; readiness is additionally
// bounded by ReadyTimeout. Call Close when done.
func StartServer(ctx context.Context, opts ServerOptions) (*Server, error) {
	binDir, err := findBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		binDir:  binDir,
		durable: opts.Durable,
		log:     opts.Log,
		port:    opts.Port,
		portSet: opts.Port != 0,
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("pgtest: port %d out of range", opts.Port)
	}
	if os.Geteuid() == 0 {
		s.cred, s.userName, err = unprivilegedUser()
		if err != nil {
			return nil, err
		}
	}

	if err := s.prepareDir(opts.Dir); err != nil {
		s.removeTemp()
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := s.initdb(ctx); err != nil {
			s.removeTemp()
			return nil, err
		}
	}
	if pw, err := os.ReadFile(filepath.Join(s.dataDir, passwordFile)); err == nil {
		s.password = strings.TrimSpace(string(pw))
	} else if !errors.Is(err, os.ErrNotExist) {
		s.removeTemp()
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := s.Start(ctx); err != nil {
		s.removeTemp()
		return nil, err
	}
	return s, nil
}

// DSN returns a lib/pq connection URL for database dbname ("postgres" if
// empty) on this server, connecting as the superuser, with its password,
// without TLS. The password is the server's secret: log the DSN through
// ingest.Redact.
func (s *Server) DSN(dbname string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dsnLocked(dbname)
}

// Port returns the TCP port the server listens on.
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// Dir returns the data directory.
func (s *Server) Dir() string { return s.dataDir }

// Stop shuts the server down with a fast shutdown (what `pg_ctl stop -m
// fast` does: open sessions are disconnected, transactions in progress roll
// back, data is checkpointed) and waits for every server process to exit.
// The data directory is kept; Start brings the server back.
//
// Stop is a no-op on a stopped server, and returns nil if the server had
// already died, for instance because a test killed it. If ctx ends first,
// the server is killed with SIGKILL and Stop returns ctx.Err().
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(ctx)
}

func (s *Server) stopLocked(ctx context.Context) error {
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil

	select {
	case <-p.done:
		return nil // died on its own (or was killed)
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
	}
	_ = p.cmd.Process.Kill()
	// Orphaned backends notice the postmaster's death and exit within a
	// moment; done closes when the last of them releases the log pipe.
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
	return fmt.Errorf("pgtest: fast shutdown of postgres in %s did not finish, killed it: %w", s.dataDir, ctx.Err())
}

// Start starts a stopped server again on the same data directory and port,
// and waits until it accepts connections. It is a no-op if the server is
// running. A server that was killed goes through crash recovery here, as a
// real one would after a crash.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("pgtest: Start on a closed Server")
	}
	if s.proc != nil {
		select {
		case <-s.proc.done:
			s.proc = nil // died since; start afresh
		default:
			return nil
		}
	}

	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()

	const maxPortTries = 5
	var lastErr error
	for attempt := 0; ; attempt++ {
		if !s.portSet {
			port, err := freePort()
			if err != nil {
				return err
			}
			s.port = port
		}
		p, logTail, err := s.launch()
		if err != nil {
			return err
		}
		err = s.waitReady(ctx, p, logTail)
		if err == nil {
			s.proc = p
			s.portSet = true
			return nil
		}
		lastErr = err

		// Make sure nothing of this attempt survives before deciding.
		s.proc = p
		stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = s.stopLocked(stopCtx)
		stopCancel()

		log := logTail.String()
		switch {
		case ctx.Err() != nil:
			return lastErr
		case !s.portSet && attempt+1 < maxPortTries && strings.Contains(log, "could not bind"):
			// Someone took the free port between picking and binding it.
			continue
		case strings.Contains(log, "pre-existing shared memory block") ||
			strings.Contains(log, `lock file "postmaster.pid" already exists`):
			// Backends of a killed predecessor have not exited yet.
			select {
			case <-ctx.Done():
				return lastErr
			case <-time.After(100 * time.Millisecond):
			}
			continue
		default:
			return lastErr
		}
	}
}

// Close stops the server, waiting up to 30 seconds for a fast shutdown
// before killing it, and removes the data directory if StartServer created
// it. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.stopLocked(ctx)
	if rmErr := s.removeTemp(); rmErr != nil && err == nil {
		err = rmErr
	}
	return err
}

func (s *Server) removeTemp() error {
	if s.tempDir == "" {
		return nil
	}
	if err := os.RemoveAll(s.tempDir); err != nil {
		return fmt.Errorf("pgtest: removing %s: %w", s.tempDir, err)
	}
	return nil
}

// prepareDir creates the data directory (a temporary one if dir is empty),
// hands it to the user postgres will run as, and checks that user can
// reach it.
func (s *Server) prepareDir(dir string) error {
	if dir == "" {
		removeStaleTempDirs()
		tmp, err := os.MkdirTemp("", tempPrefix+"*")
		if err != nil {
			return fmt.Errorf("pgtest: creating temporary directory: %w", err)
		}
		s.tempDir = tmp
		if err := os.WriteFile(filepath.Join(tmp, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		if s.cred != nil {
			// MkdirTemp makes it 0700; the postgres user must traverse it.
			if err := os.Chmod(tmp, 0o711); err != nil {
				return fmt.Errorf("pgtest: %w", err)
			}
		}
		dir = filepath.Join(tmp, "data")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("pgtest: data directory %q: %w", dir, err)
	}
	s.dataDir = abs
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return fmt.Errorf("pgtest: creating data directory: %w", err)
	}
	if s.cred != nil {
		if err := chownTree(abs, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return err
		}
		if err := checkSearchable(filepath.Dir(abs), s.cred, s.userName); err != nil {
			return err
		}
	}
	// postgres refuses data directories readable by others.
	if err := os.Chmod(abs, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

func (s *Server) initdb(ctx context.Context) error {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	password := hex.EncodeToString(raw[:])
	// initdb reads the password from a file, which must not be in the
	// (still empty) data directory: a directory of its own, which the
	// postgres user can enter when the binaries run as it. Then it is
	// beside the data directory, whose parent prepareDir checked that user
	// can search ($TMPDIR may be private to root), unless that parent is
	// read-only (Dir a volume mounted there): then under $TMPDIR.
	var pwDir string
	var err error
	if s.cred != nil {
		pwDir, err = os.MkdirTemp(filepath.Dir(s.dataDir), "txhistory-pgpw-*")
	}
	if s.cred == nil || err != nil {
		pwDir, err = os.MkdirTemp("", "txhistory-pgpw-*")
	}
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer os.RemoveAll(pwDir)
	pwFile := filepath.Join(pwDir, "pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if s.cred != nil {
		if err := os.Chmod(pwDir, 0o711); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		if err := os.Chown(pwFile, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	cmd := s.command(ctx, "initdb",
		"-D", s.dataDir,
		"-U", superuser,
		"--auth-host=scram-sha-256",
		"--auth-local=trust", // the socket is in the data directory (0700)
		"--pwfile="+pwFile,
		"-E", "UTF8",
		"--locale=C",
		"-N", // no fsync of the new cluster: it is throwaway or about to be used
	)
	out := newTailBuffer(16 << 10)
	cmd.Stdout, cmd.Stderr = s.withLog(out), s.withLog(out)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgtest: initdb in %s failed: %w\n%s", s.dataDir, err, out.String())
	}
	if err := os.WriteFile(filepath.Join(s.dataDir, passwordFile), []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// launch starts the postmaster. The process is started from a goroutine
// locked to its OS thread and waited for on that same thread: Linux sends
// the parent-death signal when the creating thread exits, so the thread must
// live as long as the process.
func (s *Server) launch() (*process, *tailBuffer, error) {
	socketDir := s.dataDir
	if len(socketDir)+len("/.s.PGSQL.65535") > maxSocketPath {
		socketDir = "" // TCP only
	}
	args := []string{
		"-D", s.dataDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(s.port),
		"-c", "unix_socket_directories=" + socketDir,
		"-c", "max_connections=200",
	}
	if !s.durable {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		)
	}
	cmd := s.command(context.Background(), "postgres", args...)
	setDeathSignal(cmd.SysProcAttr)
	// Its own process group: a terminal's Ctrl-C reaches the test binary,
	// whose death then stops postgres through Pdeathsig.
	cmd.SysProcAttr.Setpgid = true
	logTail := newTailBuffer(64 << 10)
	cmd.Stdout, cmd.Stderr = s.withLog(logTail), s.withLog(logTail)

	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine, after the
		// process it created has exited.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, nil, fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	return p, logTail, nil
}

// waitReady polls the server with real connections until one succeeds, the
// postmaster exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context, p *process, logTail *tailBuffer) error {
	connector, err := pq.NewConnector(s.dsnLocked("postgres") + "&connect_timeout=2")
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()

	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		lastErr = db.PingContext(pingCtx)
		cancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("pgtest: postgres in %s exited during startup (%v); end of its log:\n%s", s.dataDir, p.err, logTail.String())
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres in %s not accepting connections on port %d: %w (last attempt: %v); end of its log:\n%s",
				s.dataDir, s.port, ctx.Err(), lastErr, logTail.String())
		case <-tick.C:
		}
	}
}

func (s *Server) dsnLocked(dbname string) string {
	if dbname == "" {
		dbname = "postgres"
	}
	u := url.URL{Scheme: "postgres", User: url.User(superuser), Host: "127.0.0.1:" + strconv.Itoa(s.port), Path: "/" + dbname, RawQuery: "sslmode=disable"}
	if s.password != "" {
		u.User = url.UserPassword(superuser, s.password)
	}
	return u.String()
}

func (s *Server) withLog(w io.Writer) io.Writer {
	if s.log == nil {
		return w
	}
	return io.MultiWriter(w, s.log)
}

// command prepares one of the server binaries, dropping root if needed.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.binDir, name), args...)
	// A working directory the postgres user can enter; initdb complains
	// about one it cannot.
	cmd.Dir = filepath.Dir(s.dataDir)
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

// childEnv is our environment minus libpq/PostgreSQL variables that could
// redirect the server binaries (PGDATA, PGPORT, ...), in the C locale so
// log messages are predictable.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "LANG=C")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// removeStaleTempDirs deletes temporary data directories left behind by test
// binaries that died without calling Close, once neither that binary nor
// its postmaster is alive any more.
func removeStaleTempDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix+"*"))
	for _, dir := range dirs {
		owner, ok := readPID(filepath.Join(dir, ownerFile))
		if !ok || owner == os.Getpid() || alive(owner) {
			continue
		}
		if pm, ok := readPID(filepath.Join(dir, "data", "postmaster.pid")); ok && alive(pm) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// readPID reads the decimal number on the first line of file.
func readPID(file string) (int, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	return pid, err == nil && pid > 0
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
