package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// libpq reads a backslash in an unquoted key=value value as an escape, as
// in a quoted one: "password=s3\\cr3t\ pw" is the password `s3\cr3t pw`.
// The drill split such a value at the escaped blank: PGPASSWORD got
// `s3\\cr3t\` (a login that fails) and the rest, "pw dbname=integration",
// went to pg_dump as a key "pw dbname": a string libpq refuses, where the
// drill passed it as it was before it took the password out. So too with
// a tab between two pairs.
func TestToolReadsEscapesInUnquotedValues(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-pg-tool")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > \""+dir+"/args\"\nprintf '%s' \"$PGPASSWORD\" > \""+dir+"/pw\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dsn, pw, rest string }{
		{`host=db.example password=s3\\cr3t\ pw dbname=integration`, `s3\cr3t pw`, "host=db.example dbname=integration"},
		// Any blank separates pairs, a tab too.
		{"host=db.example password=s3cr3t-pw\tdbname=integration", "s3cr3t-pw", "host=db.example dbname=integration"},
	} {
		t.Setenv("PGPASSWORD", "")
		if err := tool(context.Background(), script, c.dsn, "--format=custom"); err != nil {
			t.Fatal(err)
		}
		args, err := os.ReadFile(filepath.Join(dir, "args"))
		if err != nil {
			t.Fatal(err)
		}
		pw, err := os.ReadFile(filepath.Join(dir, "pw"))
		if err != nil {
			t.Fatal(err)
		}
		if string(pw) != c.pw {
			t.Errorf("%q: PGPASSWORD is %q, want %q", c.dsn, pw, c.pw)
		}
		if !strings.Contains(string(args), "--dbname="+c.rest+"\n") {
			t.Errorf("%q: the rest of the connection string is not kept as it was:\n%s", c.dsn, args)
		}
	}
}
