package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSchemaVersionCheckWaitingForAHungDatabaseIsLogged: with
// -migrate=false (the pods of a deployment whose migration job migrates),
// ingestd checks the schema's version before it starts. A database host
// that takes connections and answers nothing (without connect_timeout the
// attempt waits for ever) held the check, and nothing was logged after the
// start line: the migrations' wait says so every 30 s (a4af09e, 214bef9),
// the version check's did not. It now logs "still waiting for the schema
// version check to complete", saying that the database does not answer.
func TestSchemaVersionCheckWaitingForAHungDatabaseIsLogged(t *testing.T) {
	logStartupWaitEvery(t, 300*time.Millisecond)

	code, sigs, logs, closeHost := daemonOnHungHost(t, "pw-S3CRET", "-migrate=false")
	t.Cleanup(func() {
		sigs <- syscall.SIGTERM
		closeHost()
		select {
		case <-code:
		case <-time.After(20 * time.Second):
			t.Errorf("no exit after SIGTERM:\n%s", logs.String())
		}
	})
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "still waiting for the schema version check") }, 5*time.Second, 20*time.Millisecond,
		"nothing logged while the schema version check waits for a database that does not answer:\n%s", logs.String())
	require.Contains(t, logs.String(), "does not answer")
	require.NotContains(t, logs.String(), "pw-S3CRET")
}
