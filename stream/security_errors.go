package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrAuthFailed is wrapped by errors from Ping (and ClientConfig.Explain)
// when the brokers refused the client's SASL credentials, or required
// SASL from a client that has none. The error names the user and
// mechanism, never the password.
var ErrAuthFailed = errors.New("kafka SASL authentication failed")

// ErrTLS is wrapped by errors from Ping (and ClientConfig.Explain) when a
// TLS connection could not be set up: a broker certificate the client does
// not trust or that is not valid for the host, a client certificate the
// broker refused, or one side speaking TLS and the other not.
var ErrTLS = errors.New("kafka TLS handshake failed")

// ErrUnreachable is wrapped by errors from Ping when no broker answered.
var ErrUnreachable = errors.New("kafka is unreachable")

// DefaultPingTimeout bounds Ping when its context has no deadline.
const DefaultPingTimeout = 15 * time.Second

// pingDialTimeout bounds Ping's TLS probe: connection and handshake.
const pingDialTimeout = 5 * time.Second

// Ping connects to c's brokers, authenticates and asks for cluster
// metadata, so that a command can fail fast on bad credentials or TLS
// settings instead of retrying in the background. It gives up after
// DefaultPingTimeout unless ctx ends sooner. Its errors wrap ErrAuthFailed,
// ErrTLS or ErrUnreachable and say which setting to check.
func Ping(ctx context.Context, c ClientConfig) error {
	if len(c.Brokers) == 0 {
		return fmt.Errorf("ping kafka: %w: no brokers", ErrUnreachable)
	}
	if err := c.Security.Validate(); err != nil {
		return fmt.Errorf("kafka security settings: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultPingTimeout)
		defer cancel()
	}
	if err := c.probeTLS(ctx); err != nil {
		return err
	}
	// Ping explains its failure in its error; the client's own warnings
	// about the same failure would only repeat it.
	c.Logger = nil
	w := &saslWatch{}
	cl, err := c.NewClient(kgo.WithHooks(w))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	err = cl.Ping(ctx)
	if err == nil {
		return nil
	}
	if saslErr := w.failure(); saslErr != nil {
		return c.authError(saslErr)
	}
	if ex := c.Explain(err); ex != err {
		return ex
	}
	return fmt.Errorf("%w: brokers %s: %w", ErrUnreachable, strings.Join(c.Brokers, ","), err)
}

// Explain turns a client error caused by c's security settings into an
// error wrapping ErrAuthFailed or ErrTLS that says which setting to check.
// Other errors are returned as they are.
func (c ClientConfig) Explain(err error) error {
	if err == nil || errors.Is(err, ErrAuthFailed) || errors.Is(err, ErrTLS) {
		return err
	}
	if errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.UnsupportedSaslMechanism) ||
		errors.Is(err, kerr.IllegalSaslState) {
		return c.authError(err)
	}
	if hint := tlsHint(err, c.Security); hint != "" {
		return &TLSError{Brokers: c.Brokers, Hint: hint, Err: err}
	}
	if ee, ok := errors.AsType[*kgo.ErrFirstReadEOF](err); ok {
		// kgo's guess is in its message: which of TLS or SASL is
		// missing.
		msg := ee.Error()
		switch {
		case strings.Contains(msg, "is SASL missing") && !c.Security.SASL.Enabled():
			return &AuthError{Brokers: c.Brokers, Err: err}
		case strings.Contains(msg, "is TLS missing") && !c.Security.TLS.On():
			return &TLSError{Brokers: c.Brokers, Err: err,
				Hint: "the broker expects TLS: set --kafka-tls (and --kafka-tls-ca for a private CA)"}
		case strings.Contains(msg, "TLS misconfigured") && c.Security.TLS.On():
			return &TLSError{Brokers: c.Brokers, Err: err,
				Hint: "the broker does not speak TLS on this port: drop --kafka-tls or use its TLS listener"}
		}
	}
	return err
}

func (c ClientConfig) authError(err error) error {
	m, _ := ParseMechanism(c.Security.SASL.Mechanism)
	return &AuthError{User: c.Security.SASL.User, Mechanism: m, Brokers: c.Brokers, Err: err}
}

// AuthError is an ErrAuthFailed that names the user and mechanism (never
// the password) and the flags to fix.
type AuthError struct {
	// User and Mechanism are the credentials' user and SASL mechanism;
	// both empty when the client offered no SASL but the brokers want it.
	User, Mechanism string
	Brokers         []string
	Err             error
}

func (e *AuthError) Error() string {
	at := strings.Join(e.Brokers, ",")
	if e.Mechanism == "" {
		return fmt.Sprintf("kafka SASL authentication failed at %s: the brokers require SASL and none is configured; "+
			"set --kafka-sasl-mechanism, --kafka-sasl-user and --kafka-sasl-password (%v)", at, e.Err)
	}
	cause := e.Err.Error()
	if errors.Is(e.Err, io.EOF) || errors.Is(e.Err, io.ErrUnexpectedEOF) {
		cause = "the broker closed the connection during authentication"
	}
	return fmt.Sprintf("kafka SASL authentication failed for user %q (mechanism %s) at %s: %s; "+
		"check --kafka-sasl-user and --kafka-sasl-password (or --kafka-sasl-password-file) and --kafka-sasl-mechanism",
		e.User, e.Mechanism, at, cause)
}

func (e *AuthError) Unwrap() []error { return []error{ErrAuthFailed, e.Err} }

// TLSError is an ErrTLS that says which setting to check.
type TLSError struct {
	Brokers []string
	// Hint says what to check.
	Hint string
	Err  error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("kafka TLS handshake with %s failed: %v; %s", strings.Join(e.Brokers, ","), e.Err, e.Hint)
}

func (e *TLSError) Unwrap() []error { return []error{ErrTLS, e.Err} }

// tlsHint says what to check for a TLS error, or "" for other errors.
func tlsHint(err error, s Security) string {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
		alert     tls.AlertError
	)
	switch {
	case errors.As(err, &unknownCA):
		if s.TLS.CAFile == "" {
			return "the broker's certificate is signed by a CA the system does not trust: pass that CA with --kafka-tls-ca"
		}
		return fmt.Sprintf("the broker's certificate is not signed by a CA in %s: check --kafka-tls-ca", s.TLS.CAFile)
	case errors.As(err, &hostname):
		return "the broker's certificate is not valid for the address dialed: check --brokers or set --kafka-tls-server-name to a name the certificate is valid for"
	case errors.As(err, &invalid):
		return "the broker's certificate is invalid (expired, not yet valid, or not for server use)"
	case errors.As(err, &verify):
		return "the broker's certificate could not be verified: check --kafka-tls-ca"
	case errors.As(err, &header):
		return "the broker does not speak TLS on this port: drop --kafka-tls or use its TLS listener"
	case errors.As(err, &alert) || strings.Contains(err.Error(), "remote error: tls:"):
		if strings.Contains(err.Error(), "certificate") && s.TLS.CertFile == "" {
			return "the broker requires a client certificate: set --kafka-tls-cert and --kafka-tls-key"
		}
		return "the broker refused the TLS connection: check --kafka-tls-cert and --kafka-tls-key against the CA the broker trusts"
	}
	return ""
}

// saslWatch is a kgo hook that records a failed SASLAuthenticate round
// trip. Brokers that answer bad credentials by closing the connection
// (instead of with SASL_AUTHENTICATION_FAILED) leave the client with a bare
// EOF that kgo retries; the hook tells that EOF apart.
type saslWatch struct {
	mu  sync.Mutex
	err error
}

var _ kgo.HookBrokerRead = (*saslWatch)(nil)

func (w *saslWatch) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil || key != int16(kmsg.SASLAuthenticate) {
		return
	}
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

func (w *saslWatch) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// probeTLS opens a TCP connection to the first broker that accepts one and
// runs the TLS handshake on it, so that a broker that never answers the
// handshake (a plaintext listener) is told apart from one that cannot be
// reached. It returns a *TLSError when the handshake fails, nil otherwise
// (including when no broker accepts a connection: Ping's client reports
// that).
func (c ClientConfig) probeTLS(ctx context.Context) error {
	tc, _ := c.Security.TLS.Config() // checked by Validate
	if tc == nil {
		return nil
	}
	for _, addr := range c.Brokers {
		dctx, cancel := context.WithTimeout(ctx, pingDialTimeout)
		raw, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
		if err != nil {
			cancel()
			continue
		}
		cfg := tc.Clone()
		if cfg.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				cfg.ServerName = host
			}
		}
		conn := tls.Client(raw, cfg)
		err = conn.HandshakeContext(dctx)
		cancel()
		conn.Close()
		switch {
		case err == nil:
			return nil
		case isTimeout(err):
			return &TLSError{Brokers: []string{addr}, Err: err, Hint: "the broker accepted the connection but never " +
				"answered the TLS handshake: it probably does not speak TLS on this port; drop --kafka-tls or use its TLS listener"}
		}
		if ex := c.Explain(err); errors.Is(ex, ErrTLS) {
			return ex
		}
		return &TLSError{Brokers: []string{addr}, Err: err, Hint: "check the --kafka-tls-* settings"}
	}
	return nil
}

// isTimeout reports whether err is a deadline or network timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
