package ingest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A client certificate renewed a moment ago, whose NotBefore is still ahead
// of the database server's clock (the issuer's clock a few seconds ahead of
// it, a rotation writing the files the DSN names while ingestion runs), is
// refused by PostgreSQL's OpenSSL with the alert "bad certificate"
// (X509_V_ERR_CERT_NOT_YET_VALID), which IsTransientDBError since its TLS
// refusals takes for a certificate to renew: Run stops, and ingestd exits
// telling to renew a certificate that was just renewed and that the server
// takes seconds later. OPERATIONS.md promises that the renewed files are
// used from the next session on, without a restart.
func TestPostgresRefusingAClientCertificateNotYetValidIsWaitedOut(t *testing.T) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rv88 CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	server, err := ledgertest.NewCerts("postgres")
	require.NoError(t, err)
	srv := pgtest.NewServer(t, pgtest.ServerOptions{})
	pgtest.EnableTLS(t, srv, server.ServerCertPEM, server.ServerKeyPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	plain, err := sqlx.Open("postgres", srv.DSN("postgres"))
	require.NoError(t, err)
	defer plain.Close()
	require.NoError(t, schema.Migrate(context.Background(), plain))
	require.NoError(t, createEffects(plain))

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	// Issued once the server is up, so that its start does not use up the
	// seconds before the certificate becomes valid.
	notBefore := time.Now().Add(4 * time.Second)
	certDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "postgres"},
		NotBefore: notBefore, NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))

	u, err := url.Parse(srv.DSN("postgres"))
	require.NoError(t, err)
	q := u.Query()
	q.Set("sslmode", "require")
	q.Set("sslcert", certFile)
	q.Set("sslkey", keyFile)
	u.RawQuery = q.Encode()
	db, err := sqlx.Open("postgres", u.String())
	require.NoError(t, err)
	defer db.Close()
	perr := db.Ping()
	require.Less(t, time.Since(notBefore), time.Duration(0), "the certificate became valid before the first session")
	require.ErrorContains(t, perr, "remote error: tls: bad certificate")
	require.True(t, ingest.IsTransientDBError(perr), "IsTransientDBError takes PostgreSQL's refusal of a certificate not yet valid for one to renew: %v", perr)

	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	appendN(t, p, 0, 3)
	b := &testBundle{p: p, db: db, client: dial(t, p.Addr(), nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = newIngester(t, b, ingest.Config{EndOffset: p.LedgerEnd()}).Run(ctx)
	require.NoError(t, err, "Run stopped at a certificate the server took %s later", time.Until(notBefore).Round(time.Second))
	var n int
	require.NoError(t, plain.Get(&n, `SELECT count(*) FROM effects`))
	require.Equal(t, len(treasuryTxs(p)), n, "the transactions were not ingested")
}
