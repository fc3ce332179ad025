package control

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestCheckResize(t *testing.T) {
	tests := []struct {
		old, new     int32
		allowReorder bool
		wantSafe     bool
		wantErr      error
	}{
		{8, 32, false, true, nil},
		{8, 16, false, true, nil},
		{8, 12, false, false, ErrNotMultiple},
		{8, 12, true, false, nil},
		{8, 4, false, false, ErrShrink},
		{8, 4, true, false, ErrShrink},
		{8, 8, false, false, ErrSameCount},
	}
	for _, tt := range tests {
		safe, err := CheckResize(tt.old, tt.new, tt.allowReorder)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) || safe != tt.wantSafe {
			t.Errorf("CheckResize(%d, %d, %v): got %v, %v; want %v, %v", tt.old, tt.new, tt.allowReorder, safe, err, tt.wantSafe, tt.wantErr)
		}
	}
}

// TestNotMultipleSuggestsGrowth: the refusal suggests multiples that grow
// the topic, never the current count.
func TestNotMultipleSuggestsGrowth(t *testing.T) {
	for _, c := range []struct {
		old, new int32
		want     string
	}{{8, 12, "e.g. 16 or 24"}, {8, 20, "e.g. 16 or 24"}, {8, 36, "e.g. 32 or 40"}, {3, 4, "e.g. 6 or 9"}} {
		_, err := CheckResize(c.old, c.new, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckResize(%d, %d): got %v, want it to suggest %q", c.old, c.new, err, c.want)
		}
	}
}

// TestMovedShareMatchesResidues checks the closed form against counting
// residues over lcm(old, new), and against murmur2 on many keys.
func TestMovedShareMatchesResidues(t *testing.T) {
	for _, c := range [][2]int32{{8, 32}, {8, 16}, {8, 12}, {6, 9}, {3, 7}, {16, 24}, {1, 5}} {
		old, new := c[0], c[1]
		l := lcm(int64(old), int64(new))
		moved := 0
		for r := int64(0); r < l; r++ {
			if r%int64(old) != r%int64(new) {
				moved++
			}
		}
		want := float64(moved) / float64(l)
		if got := MovedShare(old, new); math.Abs(got-want) > 1e-12 {
			t.Errorf("MovedShare(%d, %d): got %v, want %v (counted over %d residues)", old, new, got, want, l)
		}
		var keys [][]byte
		for i := range 20000 {
			keys = append(keys, fmt.Appendf(nil, "user-%d", i))
		}
		n, m := SampleMoved(keys, old, new)
		if got := float64(m) / float64(n); math.Abs(got-want) > 0.02 {
			t.Errorf("murmur2 over %d keys, %d -> %d: got %.3f moved, want about %.3f", n, old, new, got, want)
		}
	}
}

// TestMovedKeysComeFromParent: with new a multiple of old, every key on a
// new partition p came from p mod old (murmur2, as surge's producers
// partition), and keys on partitions below old did not move.
func TestMovedKeysComeFromParent(t *testing.T) {
	for _, c := range [][2]int32{{8, 32}, {16, 32}, {8, 16}} {
		old, new := c[0], c[1]
		for i := range 50000 {
			k := fmt.Appendf(nil, "u%d", i)
			was, now := KeyPartition(k, old), KeyPartition(k, new)
			if now%old != was {
				t.Fatalf("%d -> %d: key %s went from %d to %d, want %d mod %d = %d", old, new, k, was, now, now, old, now%old)
			}
			if now < old && now != was {
				t.Fatalf("%d -> %d: key %s moved between old partitions %d -> %d", old, new, k, was, now)
			}
		}
	}
}

func TestFeeds(t *testing.T) {
	f := Feeds(8, 32)
	if got := fmt.Sprint(f[3]); got != "[3 11 19 27]" {
		t.Errorf("Feeds(8, 32)[3]: got %s, want [3 11 19 27]", got)
	}
	// 4 -> 6: hash h goes from h mod 4 to h mod 6; over lcm 12 the
	// pairs are (0,0) (1,1) (2,2) (3,3) (0,4) (1,5) (2,0) (3,1) (0,2)
	// (1,3) (2,4) (3,5).
	f = Feeds(4, 6)
	if got := fmt.Sprint(f[0], f[1], f[2], f[3]); got != "[0 2 4] [1 3 5] [0 2 4] [1 3 5]" {
		t.Errorf("Feeds(4, 6): got %s, want [0 2 4] [1 3 5] [0 2 4] [1 3 5]", got)
	}
}
