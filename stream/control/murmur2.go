package control

// Murmur2 is the 32-bit murmur2 hash of key as the Java client (and
// kgo.StickyKeyPartitioner) computes it for partitioning: a key's partition
// among n is int32(Murmur2(key) & 0x7fffffff) % n, which KeyPartition
// returns. Hashing once and taking the remainder by several counts is what
// the sink's dedup scope and partition checks need per record.
func Murmur2[T ~string | ~[]byte](key T) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(key)
	h := uint32(seed) ^ uint32(n)
	i := 0
	for ; i+4 <= n; i += 4 {
		k := uint32(key[i]) | uint32(key[i+1])<<8 | uint32(key[i+2])<<16 | uint32(key[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch n - i {
	case 3:
		h ^= uint32(key[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(key[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(key[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// PartitionOf is the partition among n of a key whose Murmur2 is h.
func PartitionOf(h uint32, n int32) int32 { return int32(h&0x7fffffff) % n }
