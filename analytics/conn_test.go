package analytics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
)

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := analytics.Open(ctx, analytics.Config{Addr: "127.0.0.1:1", DialTimeout: time.Second})
	if !errors.Is(err, analytics.ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	for _, want := range []string{"clickhouse at 127.0.0.1:1 is unreachable", "omit --clickhouse"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestOpenRejectsBadDatabaseName(t *testing.T) {
	for _, name := range []string{"surge; DROP DATABASE default", "1abc", "a-b", "`x`"} {
		_, err := analytics.Open(context.Background(), analytics.Config{Addr: "127.0.0.1:1", Database: name})
		if err == nil || !strings.Contains(err.Error(), "must be letters, digits and underscores") {
			t.Errorf("Open(database %q): got %v, want an invalid-name error", name, err)
		}
	}
}

func TestOpenCreatesDatabase(t *testing.T) {
	srv := testenv.ClickHouse(t)
	ctx := context.Background()
	const name = "t_open_creates"
	conn, err := analytics.Open(ctx, analytics.Config{Addr: srv.Addr(), Database: name})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer conn.Close()
	defer conn.DB().Exec(ctx, "DROP DATABASE IF EXISTS "+name)

	if got, want := conn.Database(), name; got != want {
		t.Errorf("Database() = %q, want %q", got, want)
	}
	var current string
	if err := conn.DB().QueryRow(ctx, "SELECT currentDatabase()").Scan(&current); err != nil {
		t.Fatal(err)
	}
	if current != name {
		t.Errorf("currentDatabase() = %q, want %q", current, name)
	}
	// Opening again finds the database already there.
	again, err := analytics.Open(ctx, analytics.Config{Addr: srv.Addr(), Database: name})
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	again.Close()
}
