package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/surgeio/surge/internal/tlsconf"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanisms, spelled as Kafka spells them.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// redacted is what a set Secret prints instead of itself.
const redacted = "[redacted]"

// Secret is a password or other credential. It never shows itself: every
// fmt verb, slog, and JSON or text marshalling print "[redacted]" (or
// nothing when it is empty). Reveal returns the value, for the one place
// that must send it.
type Secret string

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString is String quoted as a Secret literal, for %#v.
func (s Secret) GoString() string { return "stream.Secret(" + strconv.Quote(s.String()) + ")" }

// Format prints String for every verb, so that no verb (%x, %q, %d) can
// reveal the secret.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, s.GoString())
	case verb == 'q':
		fmt.Fprint(f, strconv.Quote(s.String()))
	default:
		fmt.Fprint(f, s.String())
	}
}

// LogValue keeps the secret out of slog records.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps the secret out of JSON, YAML and other encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ReadSecretFile reads a secret from a file, such as a mounted Kubernetes
// secret, dropping trailing line breaks.
func ReadSecretFile(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	return Secret(strings.TrimRight(string(b), "\r\n")), nil
}

// Security is how a client proves who it is to the brokers and checks who
// they are. The zero value is plaintext without authentication.
type Security struct {
	// SASL authenticates the client; off when SASL.Mechanism is empty.
	SASL SASL
	// TLS encrypts connections; see TLS.On for when it is on.
	TLS TLS
}

// SASL is a SASL mechanism with a user and password.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (any case,
	// "_" for "-"); empty turns SASL off.
	Mechanism string
	// User is the SASL user name.
	User string
	// Password is the user's password.
	Password Secret
}

// TLS says how to dial brokers over TLS.
type TLS struct {
	// Enabled turns TLS on with the system's trusted CAs. Setting any
	// other field turns it on too.
	Enabled bool
	// CAFile is a PEM file of the CAs that sign the brokers'
	// certificates, replacing the system's trusted CAs.
	CAFile string
	// CertFile and KeyFile are the client's PEM certificate and key, for
	// brokers that require client certificates (mutual TLS). Set both or
	// neither.
	CertFile, KeyFile string
	// ServerName is the host name the brokers' certificates must be valid
	// for; empty checks each broker against the host it is dialed by.
	ServerName string
	// InsecureSkipVerifyForTesting accepts any broker certificate. It
	// defeats TLS's protection against impostors: for tests only.
	InsecureSkipVerifyForTesting bool
}

// ParseMechanism returns the canonical name of a SASL mechanism given in
// any case, with "_" or "-": "scram_sha_256" is SCRAM-SHA-256.
func ParseMechanism(name string) (string, error) {
	switch m := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(name), "_", "-")); m {
	case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
		return m, nil
	case "SCRAM-SHA256":
		return MechanismScramSHA256, nil
	case "SCRAM-SHA512":
		return MechanismScramSHA512, nil
	default:
		return "", fmt.Errorf("sasl mechanism %q: want plain, scram-sha-256 or scram-sha-512", name)
	}
}

// Enabled reports whether SASL is configured.
func (s SASL) Enabled() bool { return s.Mechanism != "" }

// On reports whether TLS is on: Enabled or any other field set.
func (t TLS) On() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" ||
		t.ServerName != "" || t.InsecureSkipVerifyForTesting
}

// Enabled reports whether s asks for SASL or TLS.
func (s Security) Enabled() bool { return s.SASL.Enabled() || s.TLS.On() }

// Validate checks s once: a known mechanism with a user and password, a
// client certificate with its key, and readable, well-formed TLS files.
func (s Security) Validate() error {
	if s.SASL.Enabled() {
		if _, err := ParseMechanism(s.SASL.Mechanism); err != nil {
			return err
		}
		if s.SASL.User == "" {
			return errors.New("sasl mechanism set without a user")
		}
		if s.SASL.Password == "" {
			return fmt.Errorf("sasl user %q has no password", s.SASL.User)
		}
	} else if s.SASL.User != "" || s.SASL.Password != "" {
		return errors.New("sasl user or password set without a mechanism (plain, scram-sha-256 or scram-sha-512)")
	}
	_, err := s.TLS.Config()
	return err
}

// Config returns the client TLS configuration, or nil when TLS is off.
func (t TLS) Config() (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	c, err := tlsconf.Client(t.CAFile, t.ServerName, t.InsecureSkipVerifyForTesting)
	if err != nil {
		return nil, err
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("tls client certificate and key: set both or neither")
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate %s: %w", t.CertFile, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// LoadCAFile reads a PEM file of CA certificates into a pool.
func LoadCAFile(path string) (*x509.CertPool, error) { return tlsconf.LoadCAFile(path) }

// mechanism returns the franz-go SASL mechanism for s.
func (s SASL) mechanism() (sasl.Mechanism, error) {
	m, err := ParseMechanism(s.Mechanism)
	if err != nil {
		return nil, err
	}
	switch m {
	case MechanismPlain:
		return plain.Auth{User: s.User, Pass: s.Password.Reveal()}.AsMechanism(), nil
	case MechanismScramSHA256:
		return scram.Auth{User: s.User, Pass: s.Password.Reveal()}.AsSha256Mechanism(), nil
	default:
		return scram.Auth{User: s.User, Pass: s.Password.Reveal()}.AsSha512Mechanism(), nil
	}
}

// Opts returns the kgo options for s: kgo.DialTLSConfig when TLS is on and
// kgo.SASL when a mechanism is set.
func (s Security) Opts() ([]kgo.Opt, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	tc, _ := s.TLS.Config() // checked by Validate
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if s.SASL.Enabled() {
		m, _ := s.SASL.mechanism() // checked by Validate
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// failDialer is the dialer of a client whose security settings are
// invalid: every connection fails with why, so that such a client never
// falls back to plaintext.
func failDialer(err error) kgo.Opt {
	return kgo.Dialer(func(context.Context, string, string) (net.Conn, error) {
		return nil, fmt.Errorf("kafka security settings: %w", err)
	})
}

// String describes s without its password, e.g.
// "sasl=SCRAM-SHA-256 user=alice password=[redacted] tls=on ca=/etc/ca.pem".
func (s Security) String() string {
	var b strings.Builder
	if s.SASL.Enabled() || s.SASL.User != "" {
		b.WriteString(s.SASL.String())
	} else {
		b.WriteString("sasl=off")
	}
	b.WriteString(" " + s.TLS.String())
	return b.String()
}

// GoString is String, for %#v.
func (s Security) GoString() string { return "stream.Security{" + s.String() + "}" }

// LogValue logs s as a group without its password.
func (s Security) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("sasl_mechanism", s.SASL.Mechanism),
		slog.String("sasl_user", s.SASL.User),
		slog.Bool("sasl_password_set", s.SASL.Password != ""),
		slog.Bool("tls", s.TLS.On()),
		slog.String("tls_ca", s.TLS.CAFile),
		slog.String("tls_cert", s.TLS.CertFile),
		slog.String("tls_server_name", s.TLS.ServerName),
		slog.Bool("tls_insecure_skip_verify", s.TLS.InsecureSkipVerifyForTesting),
	)
}

// String describes s without its password.
func (s SASL) String() string {
	return fmt.Sprintf("sasl=%s user=%s password=%s", s.Mechanism, s.User, passwordState(s.Password))
}

// GoString is String, for %#v.
func (s SASL) GoString() string { return "stream.SASL{" + s.String() + "}" }

// LogValue logs s without its password.
func (s SASL) LogValue() slog.Value {
	return slog.GroupValue(slog.String("mechanism", s.Mechanism), slog.String("user", s.User),
		slog.Bool("password_set", s.Password != ""))
}

// String describes t, e.g. "tls=on ca=/etc/ca.pem".
func (t TLS) String() string {
	if !t.On() {
		return "tls=off"
	}
	parts := []string{"tls=on"}
	for _, kv := range [][2]string{{"ca", t.CAFile}, {"cert", t.CertFile}, {"key", t.KeyFile}, {"server_name", t.ServerName}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if t.InsecureSkipVerifyForTesting {
		parts = append(parts, "insecure_skip_verify=true")
	}
	return strings.Join(parts, " ")
}

func passwordState(s Secret) string {
	if s == "" {
		return "(unset)"
	}
	return redacted
}

// WithSecurity makes the Producer's own client use s's TLS and SASL
// settings, overriding the default plaintext without authentication.
// Invalid settings make every connection fail with the reason. It cannot
// be combined with WithClient (give that client the settings instead).
func WithSecurity(s Security) ProducerOpt {
	return func(c *producerConfig) {
		if !s.Enabled() {
			return
		}
		opts, err := s.Opts()
		if err != nil {
			opts = []kgo.Opt{failDialer(err)}
		}
		c.clientOpts = append(c.clientOpts, opts...)
		c.clientShaping = append(c.clientShaping, "WithSecurity")
	}
}
