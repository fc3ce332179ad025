package plan

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseForecast(t *testing.T) {
	tests := []struct {
		spec      string
		wantRecs  float64
		wantBytes float64
		wantSize  float64
	}{
		{"orders=20000/s", 20000, 20000 * 300, 300},
		{"orders=20000", 20000, 20000 * 300, 300},
		{"orders=20k/s@450B", 20000, 9e6, 450},
		{"orders=1.5M/s@1KiB", 1.5e6, 1.5e6 * 1024, 1024},
		{"user-events=150k/s@40MB/s", 150000, 40e6, 40e6 / 150000},
		{" orders = 20_000/s @ 2KB ", 20000, 40e6, 2000},
	}
	for _, tt := range tests {
		f, err := ParseForecast([]string{tt.spec}, 300)
		if err != nil {
			t.Errorf("%q: %v", tt.spec, err)
			continue
		}
		if len(f.Topics) != 1 {
			t.Fatalf("%q: got %d topics, want 1", tt.spec, len(f.Topics))
		}
		got := f.Topics[0]
		if got.RecordsPerSec != tt.wantRecs || math.Abs(got.BytesPerSec-tt.wantBytes) > 1e-6 || math.Abs(got.RecordBytes-tt.wantSize) > 1e-9 {
			t.Errorf("%q: got %v rec/s, %v B/s, %v B/record; want %v, %v, %v",
				tt.spec, got.RecordsPerSec, got.BytesPerSec, got.RecordBytes, tt.wantRecs, tt.wantBytes, tt.wantSize)
		}
	}
}

func TestParseForecastCommasAndErrors(t *testing.T) {
	f, err := ParseForecast([]string{"orders=20000/s,user-events=150000/s"}, 0)
	if err != nil || len(f.Topics) != 2 || f.Topics[1].RecordBytes != DefaultRecordBytes {
		t.Fatalf("got %+v, %v; want two topics with the default record size", f, err)
	}
	for _, tt := range []struct{ spec, want string }{
		{"orders", "want TOPIC=RATE/s"},
		{"=100/s", "want TOPIC=RATE/s"},
		{"orders=fast/s", `rate "fast" is not a number`},
		{"orders=0/s", "rate must be above 0"},
		{"orders=100/s@big", `size after @: "big" is not a size`},
		{"orders=100/s,orders=200/s", "topic orders given twice"},
	} {
		_, err := ParseForecast([]string{tt.spec}, 0)
		if !errors.Is(err, ErrForecast) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want ErrForecast containing %q", tt.spec, err, tt.want)
		}
	}
}

func TestLoadForecastFile(t *testing.T) {
	f, err := LoadForecastFile(filepath.Join("testdata", "forecast.yaml"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][3]float64{ // rec/s, B/s, B/record
		"coupons":     {500, 500 * 300, 300},
		"orders":      {20000, 9e6, 450},
		"user-events": {150000, 40e6, 40e6 / 150000},
	}
	if len(f.Topics) != len(want) {
		t.Fatalf("got %d topics, want %d", len(f.Topics), len(want))
	}
	for _, tf := range f.Topics {
		w := want[tf.Topic]
		if tf.RecordsPerSec != w[0] || math.Abs(tf.BytesPerSec-w[1]) > 1e-6 || math.Abs(tf.RecordBytes-w[2]) > 1e-9 {
			t.Errorf("%s: got %v, %v, %v; want %v", tf.Topic, tf.RecordsPerSec, tf.BytesPerSec, tf.RecordBytes, w)
		}
	}
	g := f.Groups["payment"]
	if g.HandlerLatency != 20*time.Millisecond || g.MaxInFlight != 64 || g.RecordsPerSec() != 3200 {
		t.Errorf("payment: got %+v (%v rec/s), want 20ms, 64 in flight, 3200 rec/s", g, g.RecordsPerSec())
	}

	merged := f.Merge(Forecast{Topics: []TopicForecast{{Topic: "orders", RecordsPerSec: 1}}})
	if o, _ := merged.Topic("orders"); o.RecordsPerSec != 1 || len(merged.Topics) != 3 {
		t.Errorf("merge: got orders %v of %d topics, want the flag's 1 rec/s of 3", o.RecordsPerSec, len(merged.Topics))
	}
}

func TestLoadForecastFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ yaml, want string }{
		{"topics:\n  orders: 20k/s@fat\n", `topic orders: size after @: "fat" is not a size`},
		{"topics:\n  orders:\n    record_bytes: 100\n", "topic orders: no rate"},
		{"topics:\n  orders:\n    rate: 1/s\n    record_bytes: 1\n    bytes_per_second: 1MB/s\n", "not both"},
		{"topic:\n  orders: 1/s\n", "field topic not found"},
		{"record_bytes: 300\n", "no topics"},
		{"topics:\n  orders: 1/s\ngroups:\n  payment:\n    max_in_flight: 4\n", "group payment: want handler_latency"},
	} {
		path := filepath.Join(dir, "f.yaml")
		if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadForecastFile(path, 0)
		if !errors.Is(err, ErrForecast) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: got %v, want ErrForecast naming the file and containing %q", tt.yaml, err, tt.want)
		}
	}
}

func TestParseCapacity(t *testing.T) {
	c, err := ParseCapacity("9500/s@40MB/s", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.ProduceRecordsPerSec != 9500 || c.ConsumeRecordsPerSec != 9500 || c.ProduceBytesPerSec != 40e6 || c.Source != SourceGiven {
		t.Errorf("got %+v, want 9500 rec/s and 40 MB/s both ways, source given", c)
	}
	c, err = ParseCapacity("9.5k", "4000/s")
	if err != nil || c.PartitionRecordsPerSec() != 4000 || !strings.Contains(c.Detail, "--consumer-capacity 4000/s") {
		t.Errorf("got %+v, %v; want partition capacity 4000 (the consumer's) and the flags in Detail", c, err)
	}
	for _, tt := range []struct{ p, c, want string }{
		{"lots", "", "--partition-capacity"},
		{"100/s@40MB", "", "byte rate"},
		{"100/s", "-1/s", "--consumer-capacity"},
	} {
		if _, err := ParseCapacity(tt.p, tt.c); !errors.Is(err, ErrForecast) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseCapacity(%q, %q): got %v, want an error containing %q", tt.p, tt.c, err, tt.want)
		}
	}
}
