package conn

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// A -ledger or -admin that gRPC dials is not a configuration error:
// ledger.Endpoint.Target is a gRPC target, and gRPC's naming takes a URI
// without "//" (unix:path, unix:/absolute, dns:host:port, unix-abstract:name)
// and a host without a port (the dns resolver's default, 443). CheckTarget
// refuses them as "want host:port", so a daemon configured with a Unix
// socket or a participant behind an ingress on 443 no longer starts after
// the upgrade (exit 2).
func TestCheckTargetTakesWhatGRPCDials(t *testing.T) {
	for _, target := range []string{
		"127.0.0.1:5001",
		"participant.internal:5001",
		"[::1]:5001",
		"[fd00::1]:5001",
		"dns:///participant.internal:5001",
		"dns:participant.internal:5001",
		"passthrough:///participant.internal:443",
		"unix:///run/canton.sock",
		"unix:/run/canton.sock",
		"unix:run/canton.sock",
		"unix-abstract:canton",
		"participant.internal", // port 443, gRPC's default
		"[fd00::1]",
	} {
		require.NoError(t, CheckTarget("-ledger", target), "a target gRPC dials is refused")
	}
	for _, target := range []string{"127.0.0.1:99999", "validator:grpc", "participant.internal:0", "participant.internal:"} {
		require.Error(t, CheckTarget("-ledger", target), target)
	}

	// unix:/absolute path is dialled: the participant behind a Unix socket.
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	sock := filepath.Join(t.TempDir(), "ledger.sock")
	lis, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", p.Addr())
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	target := "unix:" + sock
	client, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: target, Insecure: true}})
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = client.LedgerEnd(ctx)
	require.NoError(t, err, "gRPC dials %s", target)
	require.NoError(t, CheckTarget("-ledger", target), "a target gRPC dials is refused")
}
