package schemas

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGoldenValid decodes every testdata/valid/*.json, re-encodes it and
// compares the result with testdata/golden/<name>.json. The golden output
// must decode back to the same value.
func TestGoldenValid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "valid", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid inputs: %v", err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := Decode(data)
			if err != nil {
				t.Fatalf("Decode(%s): got error %v, want none", name, err)
			}
			got, err := Encode(rec)
			if err != nil {
				t.Fatalf("Encode: got error %v, want none", err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", name)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Encode(Decode(%s)):\ngot  %s\nwant %s", name, got, want)
			}
			back, err := Decode(want)
			if err != nil {
				t.Fatalf("Decode(golden %s): got error %v, want none", name, err)
			}
			if !reflect.DeepEqual(back, rec) {
				t.Errorf("Decode(golden %s):\ngot  %+v\nwant %+v", name, back, rec)
			}
		})
	}
}

// TestGoldenInvalid decodes every testdata/invalid/*.json and compares the
// error text with testdata/invalid/<name>.err.
func TestGoldenInvalid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid inputs: %v", err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := Decode(data)
			if err == nil {
				t.Fatalf("Decode(%s): got %+v, want an error", name, rec)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Decode(%s): got error %v that does not match ErrInvalid", name, err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(path, ".json") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Decode(%s) error:\ngot  %s\nwant %s", name, got, want)
			}
		})
	}
}
