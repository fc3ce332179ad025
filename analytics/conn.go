package analytics

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// ErrUnreachable is returned (wrapped) by Open when no ClickHouse server
// answers at the configured address.
var ErrUnreachable = errors.New("clickhouse is unreachable")

// Config says which ClickHouse server and database to use.
type Config struct {
	// Addr is the native-protocol address host:port. Default
	// "127.0.0.1:9000".
	Addr string
	// User defaults to "default"; Password to empty.
	User, Password string
	// Database is created if missing. Default "surge". It must be a plain
	// identifier: letters, digits and underscores, not starting with a digit.
	Database string
	// DialTimeout defaults to 5 s.
	DialTimeout time.Duration
	// Secure turns on TLS.
	Secure bool
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
	if !identRE.MatchString(cfg.Database) {
		return nil, fmt.Errorf("clickhouse database %q: must be letters, digits and underscores, not starting with a digit", cfg.Database)
	}

	// The database may not exist yet, and a handshake naming a missing
	// database fails: create it over a connection to the user's default one.
	boot, err := dial(ctx, cfg, "")
	if err != nil {
		return nil, err
	}
	err = boot.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+cfg.Database)
	boot.Close()
	if err != nil {
		return nil, fmt.Errorf("create clickhouse database %s: %w", cfg.Database, err)
	}
	db, err := dial(ctx, cfg, cfg.Database)
	if err != nil {
		return nil, err
	}
	return &Conn{db: db, database: cfg.Database, addr: cfg.Addr}, nil
}

// dial opens a pool on database and pings it.
func dial(ctx context.Context, cfg Config, database string) (driver.Conn, error) {
	opts := &clickhouse.Options{
		Addr:     []string{cfg.Addr},
		Protocol: clickhouse.Native,
		Auth: clickhouse.Auth{
			Database: database,
			Username: cfg.User,
			Password: cfg.Password,
		},
		DialTimeout: cfg.DialTimeout,
	}
	if cfg.Secure {
		opts.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	db, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse at %s: %w", cfg.Addr, err)
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		var exc *proto.Exception
		if errors.As(err, &exc) {
			return nil, fmt.Errorf("clickhouse at %s refused the connection: %w", cfg.Addr, err)
		}
		return nil, &unreachableError{addr: cfg.Addr, err: err}
	}
	return db, nil
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
func (c *Conn) Close() error { return c.db.Close() }
