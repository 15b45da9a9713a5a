package main

// The fake participant runs in a child process (this binary, re-executed
// with childEnv set), so that its memory and garbage collection do not count
// against the ingester's, and so that it can be told what to serve.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
)

// childEnv, when set in the environment, makes the binary run as the fake
// participant child, configured by the JSON of a childConfig.
const childEnv = "TXHISTORY_BENCH_CHILD"

// childConfig says what the child serves.
type childConfig struct {
	Treasury string `json:"treasury"`
	// N transactions of a ledgertest.TransferHistory, made on demand.
	N int `json:"n"`
	// Cache keeps every transaction's encoded form after its first stream
	// (ledgertest.WithWireCache), and Warm streams them all once before the
	// child reports ready, so that the measured streams cost the fake only a
	// copy per transaction.
	Cache bool `json:"cache"`
	Warm  bool `json:"warm"`
	// Compress keeps the cache compressed
	// (ledgertest.WithCompressedWireCache), for ledgers too big to hold
	// encoded: about 350 bytes a transfer instead of 5.9 kB.
	Compress bool `json:"compress"`
	// CantonIDs makes the identifiers as long as a Canton participant's
	// (ledgertest.WithCantonUpdateIDs, TransferHistory.CantonIDs).
	CantonIDs bool `json:"canton_ids"`
	// Procs, when positive, is the child's GOMAXPROCS. The tail phase runs
	// the fake on one: a participant runs on a machine of its own, and on
	// the two cores it shares here with the ingester and PostgreSQL its
	// runtime (a garbage collector worker, threads woken for each send)
	// would otherwise take both cores at times, which shows in the
	// tail's p99 and maximum.
	Procs int `json:"procs,omitempty"`
}

// procsName describes a childConfig.Procs.
func procsName(n int) string {
	if n <= 0 {
		return "Go's default, every CPU"
	}
	return strconv.Itoa(n)
}

// fake is a running child.
type fake struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	outR  *os.File // the read end of the child's stdout, closed by Close
	Addr  string
	End   int64
	// ctx is the context of startFake, cancelled if the child exits before
	// Close: the phases run under it, because an Ingester retries a
	// participant that is gone forever (ingest.Config.MaxAttempts), and
	// the bench would wait for it instead of failing.
	ctx     context.Context
	cancel  context.CancelCauseFunc
	closing atomic.Bool
	exited  chan struct{} // closed once the child is reaped
	died    error         // how it ended, if it did before Close
}

// startFake starts a child serving cfg and waits until it is ready.
func startFake(ctx context.Context, cfg childConfig) (*fake, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	js, _ := json.Marshal(cfg)
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	// A pipe of our own rather than StdoutPipe, which Wait closes as soon
	// as the child exits: a read racing with f.wait then failed with "file
	// already closed" instead of reaching the end of what the child wrote.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = outW
	err = cmd.Start()
	outW.Close() // the child holds its copy
	if err != nil {
		outR.Close()
		return nil, fmt.Errorf("start the fake participant: %w", err)
	}
	fctx, cancel := context.WithCancelCause(ctx)
	f := &fake{cmd: cmd, stdin: stdin, out: bufio.NewScanner(outR), outR: outR, ctx: fctx, cancel: cancel, exited: make(chan struct{})}
	go f.wait(ctx)
	line, err := f.readLine("ready")
	if err != nil {
		f.Close()
		return nil, err
	}
	var end string
	if _, err := fmt.Sscan(line, &f.Addr, &end); err != nil {
		f.Close()
		return nil, fmt.Errorf("fake participant said %q: %w", line, err)
	}
	f.End, _ = strconv.ParseInt(end, 10, 64)
	return f, nil
}

// readLine reads the child's next line, which must start with word.
func (f *fake) readLine(word string) (string, error) {
	if !f.out.Scan() {
		// The end of the child's output: it exited, or is exiting. Once
		// it is reaped, f.ctx's cause says why: the context of startFake
		// ended (exec.CommandContext killed it), or it died on its own
		// (f.wait). Otherwise the read's error, or EOF.
		err := f.out.Err()
		select {
		case <-f.exited:
			if cause := context.Cause(f.ctx); cause != nil {
				err = cause
			}
		case <-time.After(5 * time.Second):
		}
		if err == nil {
			err = io.EOF
		}
		return "", fmt.Errorf("fake participant exited before saying %q: %w", word, err)
	}
	rest, ok := strings.CutPrefix(f.out.Text(), word+" ")
	if !ok {
		return "", fmt.Errorf("fake participant said %q, want %q", f.out.Text(), word)
	}
	return rest, nil
}

// PrepareTail makes the child make the transactions of a tail of rate
// transactions per second for d, and returns how many it made. RunTail
// appends them.
func (f *fake) PrepareTail(rate int, d time.Duration) (int, error) {
	if _, err := fmt.Fprintf(f.stdin, "tail %d %d\n", rate, d.Nanoseconds()); err != nil {
		return 0, err
	}
	line, err := f.readLine("made")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(line)
}

// RunTail makes the child append the transactions PrepareTail made, at its
// rate, each stamped with its append time (see appendTime); it returns how
// many it appended, once it is done.
func (f *fake) RunTail() (int, error) {
	if _, err := fmt.Fprintln(f.stdin, "go"); err != nil {
		return 0, err
	}
	line, err := f.readLine("appended")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(line)
}

// wait reaps the child; if it exits before Close, and not because ctx
// ended (exec.CommandContext kills it then), it cancels f.ctx.
func (f *fake) wait(ctx context.Context) {
	err := f.cmd.Wait()
	if !f.closing.Load() && ctx.Err() == nil {
		f.died = errors.New("the fake participant exited")
		if err != nil {
			f.died = fmt.Errorf("the fake participant exited: %w", err)
		}
		f.cancel(f.died)
	}
	close(f.exited)
}

// Close ends the child (closing its stdin tells it to exit). It returns
// how the child ended if that was before Close, which a phase that failed
// under f.ctx failed of.
func (f *fake) Close() error {
	f.closing.Store(true)
	f.stdin.Close()
	select {
	case <-f.exited:
	case <-time.After(5 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.exited
	}
	f.cancel(nil)
	f.outR.Close()
	return f.died
}

// phaseErr closes f and returns the error of a phase run under f.ctx, with
// the child's exit if it exited before (an Ingester's error then says only
// that its context was cancelled).
func phaseErr(phase string, err error, f *fake) error {
	if died := f.Close(); died != nil && !errors.Is(err, died) {
		return fmt.Errorf("%s phase: %w (%w)", phase, err, died)
	}
	return fmt.Errorf("%s phase: %w", phase, err)
}

// appendTime reads the append time a tailing child stamps on each
// transaction as its workflow id, "<append>/<scheduled>" in Unix
// nanoseconds: when it was appended, and when it was due at the tail's
// rate (the same but for a late tick).
func appendTime(tx *ledger.Transaction) (appended, scheduled time.Time, ok bool) {
	a, s, found := strings.Cut(tx.WorkflowID, "/")
	an, err1 := strconv.ParseInt(a, 10, 64)
	sn, err2 := strconv.ParseInt(s, 10, 64)
	if !found || err1 != nil || err2 != nil {
		return time.Time{}, time.Time{}, false
	}
	return time.Unix(0, an), time.Unix(0, sn), true
}

// runChild is the child's main: serve, say "ready <addr> <ledger end>", then
// obey commands on stdin until it closes.
func runChild(js string) error {
	var cfg childConfig
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		return fmt.Errorf("bad %s: %w", childEnv, err)
	}
	if cfg.Procs > 0 {
		runtime.GOMAXPROCS(cfg.Procs)
	}
	var opts []ledgertest.Option
	switch {
	case cfg.Cache && cfg.Compress:
		opts = append(opts, ledgertest.WithCompressedWireCache())
	case cfg.Cache:
		opts = append(opts, ledgertest.WithWireCache())
	}
	if cfg.CantonIDs {
		opts = append(opts, ledgertest.WithCantonUpdateIDs())
	}
	p, err := ledgertest.New(opts...)
	if err != nil {
		return err
	}
	defer p.Close()
	h := ledgertest.TransferHistory{Treasury: cfg.Treasury, CantonIDs: cfg.CantonIDs}
	if err := p.AppendFunc(cfg.N, h.Tx); err != nil {
		return err
	}
	if cfg.Warm && cfg.N > 0 {
		if err := warm(p, cfg.Treasury); err != nil {
			return err
		}
	}
	fmt.Printf("ready %s %d\n", p.Addr(), p.LedgerEnd())
	in := bufio.NewScanner(os.Stdin)
	next := cfg.N // TransferHistory index of the next tailed transaction
	for in.Scan() {
		var rate int
		var d int64
		if _, err := fmt.Sscanf(in.Text(), "tail %d %d", &rate, &d); err != nil {
			return fmt.Errorf("unknown command %q", in.Text())
		}
		txs := tailTxs(h, next, rate, time.Duration(d))
		fmt.Printf("made %d\n", len(txs))
		if !in.Scan() || in.Text() != "go" {
			return fmt.Errorf("want go after tail, got %q", in.Text())
		}
		n, err := tail(p, txs, rate)
		if err != nil {
			return err
		}
		next += n
		fmt.Printf("appended %d\n", n)
	}
	return in.Err()
}

// warm streams the whole ledger once, in two halves at the same time, with
// the update format the ingester asks for, so that the wire cache holds
// every transaction before anything is measured.
func warm(p *ledgertest.Participant, treasury string) error {
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	if err != nil {
		return err
	}
	defer c.Close()
	end := p.LedgerEnd()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, r := range [][2]int64{{0, end / 2}, {end / 2, end}} {
		if r[0] == r[1] {
			continue
		}
		wg.Go(func() {
			_, errs[i] = drain(context.Background(), c, treasury, r[0], r[1])
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// tailTxs makes the transactions of a tail of rate transactions per second
// for d, from TransferHistory index first on. They are made before the
// first append: making one costs the fake about as much CPU as ingesting it
// costs the ingester, and a participant does that work on a machine of its
// own, not on the cores the ingester and PostgreSQL share here.
func tailTxs(h ledgertest.TransferHistory, first, rate int, d time.Duration) []*ledger.Transaction {
	interval := time.Second / time.Duration(rate)
	var txs []*ledger.Transaction
	for i := 0; time.Duration(i)*interval < d; i++ {
		txs = append(txs, h.Tx(first+i))
	}
	return txs
}

// tail appends txs at rate transactions per second, each with its append
// time and its scheduled time as workflow id (appendTime), and returns how
// many it appended. A late tick appends at once, so the rate holds on
// average. The fake shares the CPUs with the ingester and PostgreSQL, so
// its ticks are late when they are busy: the time from the scheduled
// append counts that delay, which a participant on a machine of its own
// would not have added to the load (coordinated omission).
func tail(p *ledgertest.Participant, txs []*ledger.Transaction, rate int) (int, error) {
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	n := 0
	for ; n < len(txs); n++ {
		tx := txs[n]
		due := start.Add(time.Duration(n) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		tx.WorkflowID = strconv.FormatInt(time.Now().UnixNano(), 10) + "/" + strconv.FormatInt(due.UnixNano(), 10)
		if _, err := p.Append(tx); err != nil {
			return n, err
		}
	}
	return n, nil
}
