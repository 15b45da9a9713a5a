package main

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/examples/internal/conn"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// TestMarkdownCodeBlocksClose: in CommonMark a ``` block closes only at a
// line of backticks and nothing else; a line starting with ``` and more
// text inside a block does not close it, and the prose after it renders as
// code.
func TestMarkdownCodeBlocksClose(t *testing.T) {
	closing := regexp.MustCompile("^ {0,3}```+[ \t]*$")
	opening := regexp.MustCompile("^ {0,3}```")
	for _, name := range []string{"../../docs/OPERATIONS.md", "../../README.md", "../README.md", "../../BENCHMARKS.md"} {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		in := false
		for i, line := range strings.Split(string(b), "\n") {
			switch {
			case !in && opening.MatchString(line):
				in = true
			case in && closing.MatchString(line):
				in = false
			case in && opening.MatchString(line):
				t.Errorf("%s:%d: %q does not close the code block above it", filepath.Base(name), i+1, line)
			}
		}
		require.False(t, in, "%s ends inside a code block", name)
	}
}

// usageFlags returns the flags `ingestd -h` lists, and the usage text.
func usageFlags(t *testing.T) (map[string]bool, string) {
	t.Helper()
	var usage strings.Builder
	_, err := parseConfig([]string{"-h"}, envOf(nil), &usage)
	require.ErrorIs(t, err, flag.ErrHelp)
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(usage.String(), -1) {
		flags[m[1]] = true
	}
	require.NotEmpty(t, flags)
	return flags, usage.String()
}

// exampleHasFlag tells whether examples/<name> registers flag: its
// name as a string literal in the example's Go files (or, for the ones
// sharing ingestd's connection settings, examples/internal/conn's).
func exampleHasFlag(t *testing.T, name, flag string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", name, "*.go"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no example %s", name)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		if strings.Contains(string(b), `"`+flag+`"`) {
			return true
		}
	}
	return false
}

var (
	fencedBlock = regexp.MustCompile("(?ms)^```[a-z]*\n(.*?)^```[ \t]*$")
	codeSpan    = regexp.MustCompile("`([^`\n]+)`")
	flagToken   = regexp.MustCompile(`(?:^|[\s(\[])-([a-z][a-z0-9-]*)`)
	goRunOf     = regexp.MustCompile(`^(?:go run \./)?examples/([a-z]+)\b`)
)

// TestOperationsFlagsExist: every flag docs/OPERATIONS.md names, in code
// spans and in the code blocks that run ingestd, is one of ingestd's, or
// one of the example whose command it follows (`go run ./examples/bench
// -dsn …`), or of the few named in prose about another program; every
// TXHISTORY_ variable it names is in ingestd's usage; the defaults it
// states are ingestd's.
func TestOperationsFlagsExist(t *testing.T) {
	flags, usage := usageFlags(t)
	b, err := os.ReadFile("../../docs/OPERATIONS.md")
	require.NoError(t, err)
	text := string(b)
	// Flags named in prose about another program than ingestd.
	elsewhere := map[string]string{
		"canton-ids":  "bench",                                                                         // "the bench's `-canton-ids`"
		"fault-every": "soak", "rate": "soak", "seed": "soak", "faults": "soak", "stats-every": "soak", // the soak test's section
		"nocrypt": "", "topk8": "", // openssl's
		"h": "", // ingestd -h, the flag package's
	}
	checked := 0
	check := func(span string) {
		owner := "ingestd"
		if m := goRunOf.FindStringSubmatch(strings.TrimSpace(span)); m != nil {
			owner = m[1]
		}
		for _, m := range flagToken.FindAllStringSubmatch(span, -1) {
			name, _, _ := strings.Cut(m[1], "=")
			checked++
			switch o, ok := elsewhere[name]; {
			case owner != "ingestd":
				require.True(t, exampleHasFlag(t, owner, name), "docs/OPERATIONS.md: %q: examples/%s has no flag -%s", span, owner, name)
			case ok && o != "":
				require.True(t, exampleHasFlag(t, o, name), "docs/OPERATIONS.md: examples/%s has no flag -%s", o, name)
			case ok:
			default:
				require.True(t, flags[name], "docs/OPERATIONS.md: %q: ingestd has no flag -%s", span, name)
			}
		}
	}
	for _, m := range fencedBlock.FindAllStringSubmatch(text, -1) {
		if strings.Contains(m[1], "ingestd ") {
			for _, line := range strings.Split(m[1], "\n") {
				if !strings.HasPrefix(strings.TrimSpace(line), "export ") {
					check(line)
				}
			}
		}
	}
	for _, m := range codeSpan.FindAllStringSubmatch(fencedBlock.ReplaceAllString(text, ""), -1) {
		check(m[1])
	}
	require.Greater(t, checked, 40, "the test found the flags of docs/OPERATIONS.md")

	for _, v := range regexp.MustCompile(`TXHISTORY_[A-Z_]*[A-Z]`).FindAllString(text, -1) {
		require.Contains(t, usage, "$"+v, "docs/OPERATIONS.md names %s, which ingestd -h does not", v)
	}

	// The defaults the guide states.
	for _, s := range []string{
		"(`-lock wait`, the default)",
		"`-metrics-addr` (default\n`127.0.0.1:9464`",
		"`-max-silence` old (default 5 min)",
		"`-shutdown-timeout` (default 30 s)",
		"**`MaxBatchSize`** (default 1,000)",
		"**`StreamBuffer`** (default 1,024",
		"**`StreamBufferBytes`** (default 16 MiB",
		"**`ledger.Config.ReceiveWindow`** (default 1 MiB)",
		"every 30 s (`ingest.Config.LockCheck`)",
	} {
		require.Contains(t, text, s, "docs/OPERATIONS.md no longer says so: update this test")
	}
	c, err := parseConfig(nil, envOf(map[string]string{conn.EnvLedger: "validator:5001", conn.EnvParty: "treasury::1220",
		conn.EnvDSN: "postgres://u:pw@db/integration"}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "wait", c.lock)
	require.Equal(t, "127.0.0.1:9464", c.metricsAddr)
	require.Equal(t, 5*time.Minute, c.maxSilence)
	require.Equal(t, 30*time.Second, c.shutdownTimeout)
	require.Equal(t, 1000, c.maxBatch)
	require.Equal(t, 1024, c.streamBuffer)
	require.Equal(t, 16<<20, ingest.StreamBufferBytesDefault)
	require.Equal(t, 1<<20, ledger.DefaultReceiveWindow)
	require.Equal(t, 30*time.Second, ingest.LockCheckDefault)
}

// TestExamplesREADMEFlagsExist: the "main flags" examples/README.md lists
// for each example are flags of that example.
func TestExamplesREADMEFlagsExist(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	row := regexp.MustCompile("(?m)^\\| `([a-z]+)` \\|.*\\| ((?:[^|\\\\]|\\\\.)*) \\|$")
	rows := row.FindAllStringSubmatch(string(b), -1)
	require.GreaterOrEqual(t, len(rows), 8, "the examples table")
	for _, r := range rows {
		for _, span := range codeSpan.FindAllStringSubmatch(r[2], -1) {
			for _, m := range flagToken.FindAllStringSubmatch(span[1], -1) {
				if strings.HasPrefix(span[1], "go run ") {
					continue // `go run ./examples/ingestd -h`
				}
				require.True(t, exampleHasFlag(t, r[1], m[1]), "examples/README.md: examples/%s has no flag -%s", r[1], m[1])
			}
		}
	}
}

// TestREADMEExamplesCompile: the Go code of README.md compiles against
// this module: the embedding example as a file of its own (with the
// imports it leaves out: context, crypto/tls, sqlx), and the test snippet
// in a test function (tx1, tx2 declared before it). They are compiled
// through an overlay, so nothing is written into the module.
func TestREADMEExamplesCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds with the go command")
	}
	goBin, err := exec.LookPath(filepath.Join(runtime.GOROOT(), "bin", "go"))
	if err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command")
		}
	}
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	var blocks []string
	for _, m := range regexp.MustCompile("(?ms)^```go\n(.*?)^```").FindAllStringSubmatch(string(b), -1) {
		blocks = append(blocks, m[1])
	}
	require.Len(t, blocks, 2, "README.md's Go blocks: the embedding example and the test snippet")

	embed, ok := strings.CutPrefix(blocks[0], "import (\n")
	require.True(t, ok, "the embedding example starts with its imports")
	files := map[string]string{
		"embed.go": "package readme\n\nimport (\n\t\"context\"\n\t\"crypto/tls\"\n\n\t\"github.com/jmoiron/sqlx\"\n" + embed +
			"\nvar _ = run\n",
		"snippet_test.go": "package readme\n\nimport (\n\t\"testing\"\n\n\t\"github.com/cantonx/txhistory/ledger\"\n" +
			"\t\"github.com/cantonx/txhistory/ledger/ledgertest\"\n\t\"github.com/cantonx/txhistory/pgtest\"\n)\n\n" +
			"func TestSnippet(t *testing.T) {\n\tvar tx1, tx2 *ledger.Transaction\n" + blocks[1] + "\t_, _ = client, db\n}\n",
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	pkgDir := filepath.Join(root, "examples", "ingestd", "readmecheck")
	_, err = os.Stat(pkgDir)
	require.True(t, os.IsNotExist(err), "%s exists: the overlay would mix with it", pkgDir)
	tmp := t.TempDir()
	replace := map[string]string{}
	for name, src := range files {
		p := filepath.Join(tmp, name)
		require.NoError(t, os.WriteFile(p, []byte(src), 0o600))
		replace[filepath.Join(pkgDir, name)] = p
	}
	overlay, err := json.Marshal(map[string]any{"Replace": replace})
	require.NoError(t, err)
	overlayFile := filepath.Join(tmp, "overlay.json")
	require.NoError(t, os.WriteFile(overlayFile, overlay, 0o600))

	// go test -c compiles the package and its test without running
	// anything in the package's directory, which does not exist (go vet
	// would chdir into it, hence -vet=off).
	cmd := exec.Command(goBin, "test", "-c", "-vet=off", "-overlay="+overlayFile, "-o", filepath.Join(tmp, "readme.test"), "./examples/ingestd/readmecheck")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "README.md's Go code does not compile:\n%s\n%s\n%s", out, files["embed.go"], files["snippet_test.go"])
}

// goSource returns the non-test Go source of a package directory of the
// module, relative to the module root.
func goSource(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", dir, "*.go"))
	require.NoError(t, err)
	var b strings.Builder
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			src, err := os.ReadFile(f)
			require.NoError(t, err)
			b.Write(src)
		}
	}
	return b.String()
}

// TestOperationsQuotesMessages: what docs/OPERATIONS.md quotes of errors,
// log lines and /healthz reasons for an operator to search for is what
// the code says.
func TestOperationsQuotesMessages(t *testing.T) {
	b, err := os.ReadFile("../../docs/OPERATIONS.md")
	require.NoError(t, err)
	doc := strings.Join(strings.Fields(string(b)), " ")
	for _, c := range []struct{ quote, code string }{
		{"another ingester is running on this schema", ingest.ErrAnotherIngester.Error()},
		{"participant was restored from a backup", ingest.ErrParticipantRestored.Error()},
		{"Config.Parties differ from the parties the Integration DB was ingested for", ingest.ErrPartiesChanged.Error()},
		{"or it does not show it to Config.Parties", goSource(t, "ingest")},
		{"offset … was pruned by the participant; the earliest available begin offset is N",
			strings.NewReplacer("7", "…", "9", "N").Replace((&ledger.PrunedError{Requested: 7, EarliestOffset: 9}).Error())},
		{"HTTP 401 Unauthorized: invalid_client",
			(&ledger.TokenEndpointError{TokenURL: "https://idp/token", StatusCode: 401, ErrorCode: "invalid_client"}).Error()},
		{"TLS handshake refused", ledger.ErrTLS.Error()},
		{"TLS handshake refused (Unavailable)", strings.ReplaceAll(goSource(t, "ledger"), "TLS handshake refused (%s)", "TLS handshake refused (Unavailable)")},
		{"the checkpoint moved while this ingester held the lock", goSource(t, "ingest")},
		{"the stored checkpoint went back while this ingester held the lock", goSource(t, "ingest")},
		{"another ingester holds the lock of this schema; waiting", goSource(t, "ingest")},
		{`"ingest: retrying"`, goSource(t, "ingest")},
		{"database fault, retrying batch", goSource(t, "ingest")},
		{"is larger than the client takes", goSource(t, "ledger")},
		{"was refused on its way from the participant", goSource(t, "ledger")},
		{"update stream stalled", goSource(t, "ingest")},
		{"standby: another ingester holds the schema's lock", goSource(t, "metrics")},
		{`"ingestd: catching up"`, goSource(t, "examples/ingestd")},
		{`"ingestd: tailing"`, goSource(t, "examples/ingestd")},
		{"PostgreSQL refused the DSN's password", goSource(t, "examples/ingestd")},
		{"this build needs 011: run ingestd -migrate-only -schema cold (as the owner role) first, or start with -migrate",
			strings.NewReplacer("%03d", "011", "run %s (as", "run ingestd -migrate-only -schema cold (as").Replace(goSource(t, "examples/ingestd"))},
		{"taking migration lock for schema", goSource(t, "schema")},
		{"is at version 010, this build needs 011", strings.ReplaceAll(goSource(t, "schema"), "is at version %03d, this build needs %03d", "is at version 010, this build needs 011")},
		{"it cannot become pending_acceptance", strings.ReplaceAll(goSource(t, "withdrawal"), "%s", "pending_acceptance")},
		{"the Integration DB restore procedure is restoring the database", goSource(t, "withdrawal")},
		{"but the Integration DB restore procedure, which closed it, has not opened it", goSource(t, "withdrawal")},
		{"the mark committed, though its reply was lost", goSource(t, "withdrawal")},
		{"resolved at", goSource(t, "ingest")},
	} {
		q := strings.Trim(c.quote, `"`)
		require.True(t, strings.Contains(doc, q) || strings.Contains(doc, "`"+strings.TrimPrefix(q, "ingest: ")+"`") ||
			strings.Contains(doc, strings.TrimPrefix(q, "update stream ")),
			"docs/OPERATIONS.md no longer quotes %q: update this test", q)
		require.Contains(t, c.code, c.quote, "docs/OPERATIONS.md quotes %q, which the code no longer says", q)
	}
	// The /healthz reason it shows.
	require.Contains(t, doc, `"reason":"no commit for 7m12s (more than 5m0s) at offset 81234; 5120 offsets behind the ledger end; errors so far: database=42"`)
	metricsSrc := goSource(t, "metrics")
	for _, f := range []string{`"no commit for %s (more than %s) at offset %d"`, `"; %d offsets behind the ledger end"`, `"; errors so far: %s"`} {
		require.Contains(t, metricsSrc, f)
	}
}

// TestFlagsVariablesAreRead: every flag whose help names a TXHISTORY_
// variable takes its default from that variable, and the flags without
// one are the modes docs/OPERATIONS.md calls flags only.
func TestFlagsVariablesAreRead(t *testing.T) {
	entry := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)(?: ([a-z]+))?\n((?:    \t.*\n?)+)`)
	envOfHelp := regexp.MustCompile(`\(\$(TXHISTORY_[A-Z_]+)(?:, empty too)?\)`)
	usage := func(env map[string]string) map[string][2]string { // name -> type, help
		var out strings.Builder
		_, err := parseConfig([]string{"-h"}, envOf(env), &out)
		require.ErrorIs(t, err, flag.ErrHelp)
		m := map[string][2]string{}
		for _, e := range entry.FindAllStringSubmatch(out.String(), -1) {
			m[e[1]] = [2]string{e[2], e[3]}
		}
		require.NotEmpty(t, m)
		return m
	}
	base := usage(nil)
	var flagsOnly []string
	for name, f := range base {
		typ, help := f[0], f[1]
		ms := envOfHelp.FindAllStringSubmatch(help, -1)
		if len(ms) == 0 {
			flagsOnly = append(flagsOnly, "`-"+name+"`")
			continue
		}
		v := ms[len(ms)-1][1]
		var val, want string
		switch typ {
		case "string":
			val = "from-" + v
			want = `(default "` + val + `")`
		case "duration":
			val, want = "17s", "(default 17s)"
		case "int":
			val, want = "17", "(default 17)"
		case "":
			val, want = "true", "(default true)"
			if strings.Contains(help, "(default true)") {
				val, want = "false", ""
			}
		default:
			t.Fatalf("-%s: a flag type the test does not know: %s", name, typ)
		}
		got := usage(map[string]string{v: val})[name][1]
		if want == "" {
			require.NotContains(t, got, "(default", "-%s with $%s=%s", name, v, val)
		} else {
			require.Contains(t, got, want, "-%s does not take its default from $%s", name, v)
		}
	}
	b, err := os.ReadFile("../../docs/OPERATIONS.md")
	require.NoError(t, err)
	doc := strings.Join(strings.Fields(string(b)), " ")
	i := strings.Index(doc, "The modes are flags only:")
	require.GreaterOrEqual(t, i, 0)
	j := strings.Index(doc[i:], " (a fake")
	require.GreaterOrEqual(t, j, 0, "docs/OPERATIONS.md: the modes' sentence no longer ends its list of flags with \" (a fake\"")
	modes := doc[i : i+j]
	for _, f := range flagsOnly {
		require.Contains(t, modes, f, "docs/OPERATIONS.md: ingestd's %s has no environment variable, and \"The modes are flags only\" does not say so", f)
	}
}
