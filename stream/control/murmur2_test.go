package control

import (
	"fmt"
	"testing"
)

// TestMurmur2MatchesKgo: Murmur2 partitions every key as kgo's murmur2
// partitioner (the Java client's) does, for keys of every tail length.
func TestMurmur2MatchesKgo(t *testing.T) {
	for i := range 5000 {
		key := fmt.Sprintf("u-%d-abcdefgh", i)
		key = key[:1+i%len(key)]
		if i%7 == 0 {
			key = fmt.Sprintf("user-%08x-é", i*2654435761)
		}
		h := Murmur2(key)
		if h != Murmur2([]byte(key)) {
			t.Fatalf("%q: string and []byte hashes differ", key)
		}
		for _, n := range []int32{1, 2, 3, 7, 8, 12, 16, 24, 32, 64, 1000} {
			if got, want := PartitionOf(h, n), KeyPartition([]byte(key), n); got != want {
				t.Fatalf("%q among %d: got partition %d, want %d (kgo)", key, n, got, want)
			}
		}
	}
}
