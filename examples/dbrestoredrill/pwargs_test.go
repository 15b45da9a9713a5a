package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The drill runs pg_dump and pg_restore with the DSN's password in
// PGPASSWORD, never on their command line, which every user of the machine
// can read in the process list: whether the password is a URL's user info,
// a URL's password parameter or a key=value string's.
func TestToolKeepsThePasswordOffTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-pg-tool")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > \""+dir+"/args\"\nprintf '%s' \"$PGPASSWORD\" > \""+dir+"/pw\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dsn := range []string{
		"postgres://drill:s3cr3t-pw@db.example:5432/integration?sslmode=disable",
		"postgres://drill@db.example:5432/integration?password=s3cr3t-pw&sslmode=disable",
		"host=db.example port=5432 user=drill password=s3cr3t-pw dbname=integration sslmode=disable",
		"host=db.example user=drill password='s3cr3t-pw' dbname=integration",
	} {
		t.Setenv("PGPASSWORD", "")
		if err := tool(context.Background(), script, dsn, "--format=custom"); err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		args, err := os.ReadFile(filepath.Join(dir, "args"))
		if err != nil {
			t.Fatal(err)
		}
		pw, err := os.ReadFile(filepath.Join(dir, "pw"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(args), "s3cr3t-pw") {
			t.Errorf("%s: the password is on the command line:\n%s", dsn, args)
		}
		if string(pw) != "s3cr3t-pw" {
			t.Errorf("%s: PGPASSWORD is %q, want the DSN's password", dsn, pw)
		}
		if !strings.Contains(string(args), "db.example") || !strings.Contains(string(args), "integration") {
			t.Errorf("%s: the rest of the connection string is gone:\n%s", dsn, args)
		}
	}
}
