package analytics

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"empty", "", nil},
		{"comments only", "-- nothing\n  -- here;\n", nil},
		{"one without semicolon", "SELECT 1\n", []string{"SELECT 1"}},
		{"two", "CREATE TABLE a (x UInt8)\nENGINE = Log;\n\nCREATE TABLE b (y UInt8) ENGINE = Log;\n",
			[]string{"CREATE TABLE a (x UInt8)\nENGINE = Log", "CREATE TABLE b (y UInt8) ENGINE = Log"}},
		{"semicolon on its own line", "SELECT 1\n;\nSELECT 2\n;\n", []string{"SELECT 1", "SELECT 2"}},
		{"semicolon inside a line is kept", "SELECT 'a;b' AS s;\n", []string{"SELECT 'a;b' AS s"}},
		{"comment between", "SELECT 1;\n-- second: ;\nSELECT 2;", []string{"SELECT 1", "SELECT 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := splitStatements(tt.body); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadMigrations(t *testing.T) {
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []string // names, in order
		wantErr string
	}{
		{"sorted by version", fstest.MapFS{
			"migrations/010_b.sql": {Data: []byte("SELECT 10;")},
			"migrations/002_a.sql": {Data: []byte("SELECT 2;")},
		}, []string{"002_a", "010_b"}, ""},
		{"bad name", fstest.MapFS{"migrations/first.sql": {Data: []byte("SELECT 1;")}}, nil, "NNN_name.sql"},
		{"version zero", fstest.MapFS{"migrations/000_x.sql": {Data: []byte("SELECT 1;")}}, nil, "NNN_name.sql"},
		{"duplicate version", fstest.MapFS{
			"migrations/001_a.sql": {Data: []byte("SELECT 1;")},
			"migrations/1_b.sql":   {Data: []byte("SELECT 1;")},
		}, nil, "share version 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadMigrations(tt.files)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, m := range got {
				names = append(names, m.name)
			}
			if !reflect.DeepEqual(names, tt.want) {
				t.Errorf("got %q, want %q", names, tt.want)
			}
		})
	}
}

// TestEmbeddedMigrations checks the shipped files parse and use {db} for
// every table they name.
func TestEmbeddedMigrations(t *testing.T) {
	files, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(files), 10; got != want {
		t.Fatalf("got %d migrations, want %d", got, want)
	}
	single, err := migrateConfig{}.load()
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		// Only the backfill of the marks on a cluster (008) is cluster-only.
		if got, want := f.clusterOnly, f.version == 8; got != want {
			t.Errorf("%s: got cluster-only %v, want %v", f.name, got, want)
		}
		if f.clusterOnly && len(single[i].statements) != 0 {
			t.Errorf("%s on one server: got %d statements, want none", f.name, len(single[i].statements))
		}
		for i, st := range f.statements {
			if !strings.Contains(st, "{db}.") {
				t.Errorf("%s statement %d does not qualify its table with {db}: %s", f.name, i+1, st)
			}
		}
	}
}

func TestFindBinary(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"clickhouse", "clickhouse-server"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	tests := []struct {
		name       string
		candidates []string
		want       binary
		wantErr    error
	}{
		{"none found", []string{"no-such-clickhouse-server", "/no/such/clickhouse-server"}, binary{}, ErrServerNotInstalled},
		{"server on PATH", []string{"clickhouse-server", "clickhouse"}, binary{path: filepath.Join(dir, "clickhouse-server")}, nil},
		{"single binary needs server", []string{"no-such", "clickhouse"},
			binary{path: filepath.Join(dir, "clickhouse"), args: []string{"server"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findBinary(tt.candidates)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWriteConfig(t *testing.T) {
	for _, kafka := range []bool{false, true} {
		dir := t.TempDir()
		if err := writeConfig(dir, 19000, 18123, kafka, false); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"config.xml", "users.xml"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(string(b), dir, "DIR")
			golden := strings.TrimSuffix(name, ".xml")
			if kafka {
				golden += "_kafka"
			}
			golden += ".golden.xml"
			if name == "users.xml" && kafka {
				continue // users.xml does not depend on the option
			}
			CheckGolden(t, golden, []byte(got))
		}
	}
	if err := writeConfig(filepath.Join(t.TempDir(), "a<b"), 1, 2, false, false); err == nil {
		t.Error("writeConfig into a dir with '<': got nil error, want one")
	}
}

func TestConversions(t *testing.T) {
	tests := []struct {
		name       string
		in         time.Time
		wantSecs   int64
		wantMillis int64
	}{
		{"zero", time.Time{}, 0, 0},
		{"normal", time.Date(2024, 11, 29, 10, 0, 0, 123e6, time.UTC), 1732874400, 1732874400123},
		{"before 1970", time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC), 0, -31536000000},
		{"after 2106", time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), 1<<32 - 1, 7258118400000},
	}
	for _, tt := range tests {
		if got := dateTime(tt.in).Unix(); got != tt.wantSecs {
			t.Errorf("%s: dateTime = %d, want %d", tt.name, got, tt.wantSecs)
		}
		if got := millis(tt.in); got != tt.wantMillis {
			t.Errorf("%s: millis = %d, want %d", tt.name, got, tt.wantMillis)
		}
	}
	for in, want := range map[int]uint8{-1: 0, 0: 0, 1: 1, 255: 255, 300: 255} {
		if got := version(in); got != want {
			t.Errorf("version(%d) = %d, want %d", in, got, want)
		}
	}
}

// TestFillBuyersNeedsItsColumns: a result without the campaign, currency
// and buyers columns is an error, not a page of zero buyers.
func TestFillBuyersNeedsItsColumns(t *testing.T) {
	buyers := map[pairKey]uint64{{"bf", "EUR"}: 7}
	res := &ReportResult{Columns: []string{"campaign", "currency", "buyers"}, Rows: [][]any{{"bf", "EUR", uint64(0)}}}
	if err := fillBuyers(res, buyers); err != nil || res.Rows[0][2] != uint64(7) {
		t.Fatalf("got %v (err %v), want 7 buyers", res.Rows[0][2], err)
	}
	res = &ReportResult{Columns: []string{"campaign_id", "currency", "buyers"}, Rows: [][]any{{"bf", "EUR", uint64(0)}}}
	if err := fillBuyers(res, buyers); err == nil {
		t.Fatal("a result without a campaign column: got no error")
	}
}
