package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHashKey(t *testing.T) {
	// SHA-256 of "abc" (FIPS 180-2, appendix B.1).
	if got, want := HashKey("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("HashKey(abc): got %s, want %s", got, want)
	}
	k1, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := GenerateKey()
	if !strings.HasPrefix(k1, "sk_") || len(k1) != 46 || k1 == k2 {
		t.Errorf("GenerateKey: got %q and %q, want two different sk_ keys of 46 characters", k1, k2)
	}
}

func TestParseKeys(t *testing.T) {
	h := HashKey("secret")
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		wantN   int
	}{
		{"valid", "keys:\n  - name: shop\n    sha256: " + h + "\n    scopes: [orders:write, events:write]\n    rate: 100\n", "", 1},
		{"plaintext under a wrong field", "keys:\n  - name: shop\n    key: sk_live_123\n    scopes: [orders:write]\n", "field key not found", 0},
		{"plaintext as the hash", "keys:\n  - name: shop\n    sha256: sk_live_123\n    scopes: [orders:write]\n", "64 hex digits", 0},
		{"unknown scope", "keys:\n  - name: shop\n    sha256: " + h + "\n    scopes: [orders:read]\n", `unknown scope "orders:read"`, 0},
		{"no scopes", "keys:\n  - name: shop\n    sha256: " + h + "\n", "no scopes", 0},
		{"bad name", "keys:\n  - name: my shop\n    sha256: " + h + "\n    scopes: [orders:write]\n", "name", 0},
		{"duplicate name", "keys:\n  - {name: a, sha256: " + h + ", scopes: [orders:write]}\n  - {name: a, sha256: " + HashKey("other") + ", scopes: [orders:write]}\n", "duplicate name", 0},
		{"duplicate hash", "keys:\n  - {name: a, sha256: " + h + ", scopes: [orders:write]}\n  - {name: b, sha256: " + h + ", scopes: [orders:write]}\n", "same hash", 0},
		{"negative rate", "keys:\n  - {name: a, sha256: " + h + ", scopes: [orders:write], rate: -1}\n", "must not be negative", 0},
		{"no keys", "keys: []\n", "no keys", 0},
		{"not YAML", "keys: [\n", "invalid API keys", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKeys([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidKeys) {
					t.Fatalf("got error %v, want ErrInvalidKeys containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v", err)
			}
			if k.Len() != tt.wantN {
				t.Errorf("got %d keys, want %d", k.Len(), tt.wantN)
			}
		})
	}
}

func TestLoadKeysAndLookup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.yaml")
	yaml := "keys:\n" +
		"  - {name: shop, sha256: " + HashKey("sk_shop") + ", scopes: [orders:write, events:write]}\n" +
		"  - {name: app, sha256: " + HashKey("sk_app") + ", scopes: [events:write]}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKeys(path)
	if err != nil {
		t.Fatalf("LoadKeys: %v", err)
	}
	if got := strings.Join(k.Names(), ","); got != "shop,app" {
		t.Errorf("got names %s, want shop,app", got)
	}
	for secret, want := range map[string]int{"sk_shop": 0, "sk_app": 1, "sk_other": -1, "": -1, HashKey("sk_shop"): -1} {
		if got := k.lookup(secret); got != want {
			t.Errorf("lookup(%q): got %d, want %d", secret, got, want)
		}
	}
	if _, err := LoadKeys(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("LoadKeys of a missing file: got no error")
	}
}

func TestKeysAuthorize(t *testing.T) {
	keys, err := NewKeys(
		Key{Name: "shop", SHA256: HashKey("shop-secret-0123456789"), Scopes: []Scope{ScopeOrdersWrite, ScopeEventsWrite}},
		Key{Name: "analyst", SHA256: HashKey("analyst-secret-0123456"), Scopes: []Scope{ScopeReportsRead}},
	)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		secret   string
		scope    Scope
		wantName string
		wantOK   bool
	}{
		{"analyst-secret-0123456", ScopeReportsRead, "analyst", true},
		{"analyst-secret-0123456", ScopeOrdersWrite, "analyst", false},
		{"shop-secret-0123456789", ScopeReportsRead, "shop", false},
		{"shop-secret-0123456789", ScopeEventsWrite, "shop", true},
		{"wrong", ScopeReportsRead, "", false},
		{"", ScopeReportsRead, "", false},
		{"analyst-secret-0123456", Scope("reports:write"), "analyst", false},
	}
	for _, tt := range tests {
		name, ok := keys.Authorize(tt.secret, tt.scope)
		if name != tt.wantName || ok != tt.wantOK {
			t.Errorf("Authorize(%q, %s) = %q, %v; want %q, %v", tt.secret, tt.scope, name, ok, tt.wantName, tt.wantOK)
		}
	}
}
