package ingest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRV183RedactKeepsAddressesAndTimes: withholding the password of a
// target without a scheme ("user:password@host:port") must not take
// ordinary text for one: host:port, IPv6 literals, times, e-mail
// addresses and a URL's path stay as they are.
func TestRV183RedactKeepsAddressesAndTimes(t *testing.T) {
	for _, s := range []string{
		"dial tcp 127.0.0.1:5001: connect: connection refused",
		"dial tcp [::1]:5001: connect: connection refused",
		"address [fe80::1%eth0]:5001: no route to host",
		"ledger end at 12:34:56@offset 42 unknown",
		"at 2026-12-07 12:34:56@node-1",
		"token for treasury@example.com refused",
		`Post "https://auth.example.com/realms/x/token@v2": EOF`,
		"balance of Amulet@DSO::1220d50: no rows",
		"dial unix /run/participant:1@a.sock: connect: no such file or directory",
	} {
		require.Equal(t, s, Redact(s))
	}
	require.Equal(t, "address u:REDACTED@h:1 and v:REDACTED@[::1]:2", Redact("address u:pw1@h:1 and v:pw2@[::1]:2"))
	require.Equal(t, `target "dns:///u:REDACTED@h:1"`, Redact(`target "dns:///u:pw@h:1"`))
}
