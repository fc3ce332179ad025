package analytics

import "testing"

func TestMissingClusterSettings(t *testing.T) {
	tests := []struct {
		got  map[string]string
		want string
	}{
		{map[string]string{"insert_distributed_sync": "1", "insert_quorum": "0"}, ""},
		{map[string]string{"insert_distributed_sync": "0", "insert_quorum": "0"}, "insert_distributed_sync=0"},
		{map[string]string{"insert_distributed_sync": "1", "insert_quorum": "2"}, "insert_quorum=2"},
		{map[string]string{}, "insert_distributed_sync=, insert_quorum="},
	}
	for _, tt := range tests {
		if got := missingSettings(tt.got); got != tt.want {
			t.Errorf("missingSettings(%v): got %q, want %q", tt.got, got, tt.want)
		}
	}
	if got, want := wantSettings(), "insert_distributed_sync=1 and insert_quorum=0"; got != want {
		t.Errorf("wantSettings: got %q, want %q", got, want)
	}
}
