// Package tlsconf builds the client TLS configurations surge uses for
// Kafka and ClickHouse from the same few settings.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Client returns a client TLS configuration (TLS 1.2 or newer) trusting the
// CAs in caFile (the system's when empty), expecting serverName (the
// dialled host when empty). skipVerify accepts any certificate; it exists
// for tests only.
func Client(caFile, serverName string, skipVerify bool) (*tls.Config, error) {
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         serverName,
		InsecureSkipVerify: skipVerify, //nolint:gosec // named and documented for tests only
	}
	if caFile != "" {
		pool, err := LoadCAFile(caFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	return c, nil
}

// LoadCAFile reads a PEM file of CA certificates into a pool.
func LoadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls ca file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls ca file %s: no PEM certificates in it", path)
	}
	return pool, nil
}
