package analytics

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/surgeio/surge/internal/tlsconf"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// ErrUnreachable is returned (wrapped) by Open when no ClickHouse server
// answers at the configured address.
var ErrUnreachable = errors.New("clickhouse is unreachable")

// ErrAuthFailed is returned (wrapped) by Open when the server refuses the
// user or password. The error names the user, never the password.
var ErrAuthFailed = errors.New("clickhouse authentication failed")

// ErrTLS is returned (wrapped) by Open when the TLS handshake fails: a
// server certificate the client does not trust or that is not valid for
// the host, or a port that does not speak TLS.
var ErrTLS = errors.New("clickhouse TLS handshake failed")

// Config says which ClickHouse server and database to use. Printing it
// (fmt, slog) never shows the password.
type Config struct {
	// Addr is the native-protocol address host:port. Default
	// "127.0.0.1:9000" (a server's secure native port is usually 9440).
	// Several addresses separated by commas (nodes of one cluster) are
	// tried in order: a connection goes to the first that answers, so a
	// node that is down fails over to the next.
	Addr string
	// User defaults to "default"; Password to empty.
	User, Password string
	// PasswordFile, when Password is empty, is a file holding the
	// password (trailing line breaks dropped), such as a mounted secret.
	PasswordFile string
	// Database is created if missing. Default "surge". It must be a plain
	// identifier: letters, digits and underscores, not starting with a digit.
	Database string
	// DialTimeout defaults to 5 s.
	DialTimeout time.Duration
	// Secure turns on TLS with the system's trusted CAs; it is
	// TLS.Enabled.
	Secure bool
	// TLS configures TLS to the server's secure native port.
	TLS TLSConfig
}

// TLSConfig says how to reach ClickHouse over TLS. Setting any field turns
// TLS on.
type TLSConfig struct {
	// Enabled turns TLS on with the system's trusted CAs.
	Enabled bool
	// CAFile is a PEM file of the CAs that sign the server's certificate,
	// replacing the system's trusted CAs.
	CAFile string
	// ServerName is the host name the certificate must be valid for;
	// empty checks it against Addr's host.
	ServerName string
	// InsecureSkipVerifyForTesting accepts any server certificate. It
	// defeats TLS's protection against impostors: for tests only.
	InsecureSkipVerifyForTesting bool
}

// On reports whether TLS is on.
func (t TLSConfig) On() bool {
	return t.Enabled || t.CAFile != "" || t.ServerName != "" || t.InsecureSkipVerifyForTesting
}

// config returns the client TLS configuration, or nil when TLS is off.
func (t TLSConfig) config() (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	c, err := tlsconf.Client(t.CAFile, t.ServerName, t.InsecureSkipVerifyForTesting)
	if err != nil {
		return nil, fmt.Errorf("clickhouse %w", err)
	}
	return c, nil
}

// String describes c without its password.
func (c Config) String() string {
	pw := "(unset)"
	if c.Password != "" || c.PasswordFile != "" {
		pw = "[redacted]"
	}
	tlsOn := c.Secure || c.TLS.On()
	s := fmt.Sprintf("addr=%s user=%s password=%s database=%s tls=%v", c.Addr, c.User, pw, c.Database, tlsOn)
	if c.TLS.CAFile != "" {
		s += " tls_ca=" + c.TLS.CAFile
	}
	if c.TLS.ServerName != "" {
		s += " tls_server_name=" + c.TLS.ServerName
	}
	return s
}

// Format prints String for every verb, so that no verb shows the password.
func (c Config) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, "analytics.Config{"+c.String()+"}")
		return
	}
	fmt.Fprint(f, c.String())
}

// LogValue logs c without its password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr), slog.String("user", c.User),
		slog.Bool("password_set", c.Password != "" || c.PasswordFile != ""),
		slog.String("database", c.Database), slog.Bool("tls", c.Secure || c.TLS.On()),
	)
}

// Default values for Config.
const (
	DefaultAddr     = "127.0.0.1:9000"
	DefaultUser     = "default"
	DefaultDatabase = "surge"
)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Conn is a connection pool to one ClickHouse database, speaking the native
// protocol. It is safe for concurrent use.
type Conn struct {
	db       driver.Conn
	database string
	addr     string
	cfg      Config      // as opened, for Node
	tls      *tls.Config // as opened, for Node

	// shardKey caches cityHash64(topic, partition) per topic partition
	// (shardKeys).
	shardMu  sync.Mutex
	shardKey map[topicPart]uint64
	clMu     sync.Mutex
	clKnown  bool                   // cluster is known (see Cluster)
	cluster  string                 // "" on one server
	nodes    map[string]driver.Conn // other nodes of the cluster, by address
	clMarks  atomic.Bool            // the cluster's marks are backfilled (see clusterMarks)

	kept keptCache // campaign_buyers' largest part (report_buyers_head.go)
}

// Open connects to the server in cfg, creates the database if it is missing
// and checks that the server answers. An unreachable server yields an error
// wrapping ErrUnreachable that names the address and how to get a server.
func Open(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.User == "" {
		cfg.User = DefaultUser
	}
	if cfg.Database == "" {
		cfg.Database = DefaultDatabase
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.Password == "" && cfg.PasswordFile != "" {
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("clickhouse password file: %w", err)
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
	}
	if cfg.Secure {
		cfg.TLS.Enabled = true
	}
	tc, err := cfg.TLS.config()
	if err != nil {
		return nil, err
	}
	if err := CheckDatabase(cfg.Database); err != nil {
		return nil, err
	}

	// The database may not exist yet, and a handshake naming a missing
	// database fails: create it over a connection to the user's default one.
	boot, err := dial(ctx, cfg, tc, "")
	if err != nil {
		return nil, err
	}
	err = boot.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+cfg.Database)
	boot.Close()
	if err != nil {
		return nil, fmt.Errorf("create clickhouse database %s: %w", cfg.Database, err)
	}
	db, err := dial(ctx, cfg, tc, cfg.Database)
	if err != nil {
		return nil, err
	}
	return &Conn{db: db, database: cfg.Database, addr: cfg.Addr, cfg: cfg, tls: tc}, nil
}

// dial opens a pool on database, over TLS when tc is set, and pings it.
func dial(ctx context.Context, cfg Config, tc *tls.Config, database string) (driver.Conn, error) {
	opts := &clickhouse.Options{
		Addr:     strings.Split(cfg.Addr, ","),
		Protocol: clickhouse.Native,
		Auth: clickhouse.Auth{
			Database: database,
			Username: cfg.User,
			Password: cfg.Password,
		},
		DialTimeout: cfg.DialTimeout,
		TLS:         tc,
	}
	db, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse at %s: %w", cfg.Addr, err)
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		var exc *proto.Exception
		if errors.As(err, &exc) {
			if authCodes[exc.Code] {
				return nil, &authError{addr: cfg.Addr, user: cfg.User, err: err}
			}
			return nil, fmt.Errorf("clickhouse at %s refused the connection: %w", cfg.Addr, err)
		}
		if hint := tlsHint(err, cfg.TLS, tc != nil); hint != "" {
			return nil, &tlsError{addr: cfg.Addr, hint: hint, err: err}
		}
		return nil, &unreachableError{addr: cfg.Addr, err: err}
	}
	return db, nil
}

// authCodes are the server's exception codes for a refused login:
// UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, IP_ADDRESS_NOT_ALLOWED
// (18.16 and later) and AUTHENTICATION_FAILED (20.x and later).
var authCodes = map[int32]bool{192: true, 193: true, 194: true, 195: true, 516: true}

// authError is an ErrAuthFailed that names the user and the flags to fix.
type authError struct {
	addr, user string
	err        error
}

func (e *authError) Error() string {
	return fmt.Sprintf("clickhouse at %s refused user %q: %v; check --clickhouse-user and "+
		"--clickhouse-password (or SURGE_CLICKHOUSE_PASSWORD, --clickhouse-password-file)", e.addr, e.user, e.err)
}

func (e *authError) Unwrap() []error { return []error{ErrAuthFailed, e.err} }

// tlsError is an ErrTLS that says which setting to check.
type tlsError struct {
	addr, hint string
	err        error
}

func (e *tlsError) Error() string {
	return fmt.Sprintf("clickhouse at %s: TLS connection failed: %v; %s", e.addr, e.err, e.hint)
}

func (e *tlsError) Unwrap() []error { return []error{ErrTLS, e.err} }

// tlsHint says what to check for a TLS error, or "" for other errors.
// tlsOn says whether the client spoke TLS.
func tlsHint(err error, t TLSConfig, tlsOn bool) string {
	if !tlsOn {
		// A TLS port resets a plaintext hello: the connection opened,
		// then the protocol handshake was cut off.
		if strings.Contains(err.Error(), "handshake") && (errors.Is(err, syscall.ECONNRESET) ||
			errors.Is(err, io.EOF) || strings.Contains(err.Error(), "connection reset by peer")) {
			return "the server closed the connection at the protocol handshake, as a secure (TLS) port does: " +
				"if this is the secure native port (often 9440), set --clickhouse-tls"
		}
		return ""
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknownCA):
		if t.CAFile == "" {
			return "the server's certificate is signed by a CA the system does not trust: pass that CA with --clickhouse-tls-ca"
		}
		return fmt.Sprintf("the server's certificate is not signed by a CA in %s: check --clickhouse-tls-ca", t.CAFile)
	case errors.As(err, &hostname):
		return "the server's certificate is not valid for the address dialed: check --clickhouse or set --clickhouse-tls-server-name"
	case errors.As(err, &invalid):
		return "the server's certificate is invalid (expired, not yet valid, or not for server use)"
	case errors.As(err, &header):
		return "the server does not speak TLS on this port: use its secure native port (often 9440) or drop --clickhouse-tls"
	}
	return ""
}

// unreachableError is an ErrUnreachable that names the address and says how
// to get a server.
type unreachableError struct {
	addr string
	err  error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("clickhouse at %s is unreachable: %v; start one with "+
		"`sudo service clickhouse-server start` or omit --clickhouse to use the embedded local server",
		e.addr, e.err)
}

func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.err} }

// DB is the underlying clickhouse-go connection, for queries this package
// does not wrap. Its default database is Database().
func (c *Conn) DB() driver.Conn { return c.db }

// Database is the database c works in.
func (c *Conn) Database() string { return c.database }

// Addr is the server address c talks to.
func (c *Conn) Addr() string { return c.addr }

// Close closes every connection of the pool.
func (c *Conn) Close() error {
	c.closeNodes()
	return c.db.Close()
}

// ErrInvalidDatabase is returned (wrapped) for a database name that is not
// a plain identifier.
var ErrInvalidDatabase = errors.New("invalid clickhouse database name")

// CheckDatabase checks that name is a plain identifier (letters, digits and
// underscores, not starting with a digit), as Config.Database must be.
func CheckDatabase(name string) error {
	if !identRE.MatchString(name) {
		return fmt.Errorf("%w %q: must be letters, digits and underscores, not starting with a digit", ErrInvalidDatabase, name)
	}
	return nil
}
