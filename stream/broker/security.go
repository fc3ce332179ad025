package broker

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanisms the broker accepts, spelled as Kafka spells them.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// saslUser is one user clients may authenticate as.
type saslUser struct {
	mechanism, user, password string
}

// tlsFiles are PEM files to build the listener's TLS config from.
type tlsFiles struct {
	cert, key, clientCA string
}

// WithSASLUser makes the broker require SASL authentication and adds a
// user with full rights who authenticates with mechanism (PLAIN,
// SCRAM-SHA-256 or SCRAM-SHA-512, any case) and password. Give it once per
// user or mechanism. Default: no SASL, every client is let in.
func WithSASLUser(mechanism, user, password string) Opt {
	return func(c *config) {
		c.sasl = append(c.sasl, saslUser{mechanism, user, password})
	}
}

// WithTLS makes the broker accept only TLS connections, with cfg (which
// must hold the broker's certificate), overriding the default plaintext
// listener. Set cfg.ClientAuth and ClientCAs to require client
// certificates.
func WithTLS(cfg *tls.Config) Opt {
	return func(c *config) { c.tls = cfg }
}

// WithTLSFiles is WithTLS with the broker's certificate and key read from
// PEM files. A non-empty clientCAFile makes the broker require client
// certificates signed by one of the CAs in it (mutual TLS).
func WithTLSFiles(certFile, keyFile, clientCAFile string) Opt {
	return func(c *config) { c.tlsFiles = &tlsFiles{certFile, keyFile, clientCAFile} }
}

// canonicalMechanism returns the Kafka spelling of a mechanism given in any
// case, with "_" or "-".
func canonicalMechanism(m string) (string, error) {
	switch u := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(m), "_", "-")); u {
	case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
		return u, nil
	default:
		return "", fmt.Errorf("sasl mechanism %q: want plain, scram-sha-256 or scram-sha-512", m)
	}
}

// internalUser is the SASL user of the broker's own in-process client
// (see groups.go), with a random password made on each start.
const internalUser = "__surge_broker"

// security is what the SASL and TLS settings turn into.
type security struct {
	kfake []kfake.Opt
	// tls is the listener's config, nil for plaintext. The broker serves
	// TLS itself rather than through kfake, so that it sees the requests
	// on each connection (see listener.go).
	tls *tls.Config
	// internal authenticates the broker's own client.
	internal []kgo.Opt
}

// securityOpts validates the SASL and TLS settings once, in Start.
func (c *config) securityOpts() (security, error) {
	var opts []kfake.Opt
	var internal []kgo.Opt
	if len(c.sasl) > 0 {
		var pw [24]byte
		_, _ = rand.Read(pw[:])
		pass := hex.EncodeToString(pw[:])
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(MechanismScramSHA256, internalUser, pass))
		internal = append(internal, kgo.SASL(scram.Auth{User: internalUser, Pass: pass}.AsSha256Mechanism()))
	}
	for _, u := range c.sasl {
		m, err := canonicalMechanism(u.mechanism)
		if err != nil {
			return security{}, err
		}
		if u.user == "" {
			return security{}, fmt.Errorf("sasl user for %s: empty name", m)
		}
		if u.password == "" {
			return security{}, fmt.Errorf("sasl user %q: empty password", u.user)
		}
		if u.user == internalUser {
			return security{}, fmt.Errorf("sasl user %q: the name is reserved for the broker's own client", u.user)
		}
		opts = append(opts, kfake.Superuser(m, u.user, u.password))
	}
	if c.tls != nil && c.tlsFiles != nil {
		return security{}, errors.New("tls: give WithTLS or WithTLSFiles, not both")
	}
	tc := c.tls
	if c.tlsFiles != nil {
		var err error
		if tc, err = c.tlsFiles.load(); err != nil {
			return security{}, err
		}
	}
	if tc != nil {
		if len(tc.Certificates) == 0 && tc.GetCertificate == nil && tc.GetConfigForClient == nil {
			return security{}, errors.New("tls: the config has no certificate")
		}
	}
	return security{kfake: opts, tls: tc, internal: internal}, nil
}

// load builds the listener's TLS config from the files.
func (f *tlsFiles) load() (*tls.Config, error) {
	if f.cert == "" || f.key == "" {
		return nil, errors.New("tls: both a certificate and a key file are needed")
	}
	pair, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("tls certificate %s: %w", f.cert, err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if f.clientCA != "" {
		pem, err := os.ReadFile(f.clientCA)
		if err != nil {
			return nil, fmt.Errorf("tls client ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls client ca %s: no PEM certificates in it", f.clientCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// saslStateFile is where kfake saves SASL users on Close.
const saslStateFile = "sasl.json"

// removeSASLState deletes the SASL users a broker saved in dir, so that
// they are never kept on disk and never override the options of the next
// start.
func removeSASLState(dir string) error {
	err := os.Remove(filepath.Join(dir, saslStateFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove saved sasl users: %w", err)
	}
	return nil
}
