package control

import (
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Errors from CheckResize.
var (
	// ErrShrink: Kafka cannot remove partitions.
	ErrShrink = errors.New("kafka cannot remove partitions from a topic")
	// ErrSameCount: the topic already has the partition count asked for.
	ErrSameCount = errors.New("topic already has that many partitions")
	// ErrNotMultiple: an order-safe resize needs the new count to be a
	// multiple of the current one.
	ErrNotMultiple = errors.New("new partition count is not a multiple of the current one")
)

// CheckResize says whether growing from old to new partitions is possible
// and keeps per-key order. Shrinking and equal counts are refused; a count
// that is not a multiple of old is refused unless allowReorder, because
// then keys move between old partitions too (from p to q with q < old),
// whose records no barrier can hold back: a moved key's new records would
// be consumed alongside its older ones still waiting in its old partition.
func CheckResize(old, new int32, allowReorder bool) (orderSafe bool, err error) {
	switch {
	case old < 1 || new < 1:
		return false, fmt.Errorf("partition counts %d -> %d: must be positive", old, new)
	case new < old:
		return false, fmt.Errorf("%w: %d -> %d (grow it, or create a new topic and move producers to it)", ErrShrink, old, new)
	case new == old:
		return false, fmt.Errorf("%w: %d", ErrSameCount, old)
	case new%old != 0:
		if allowReorder {
			return false, nil
		}
		lo := max(old*(new/old), 2*old) // the nearest multiples that grow the topic
		return false, fmt.Errorf("%w: %d -> %d; with a multiple (e.g. %d or %d) a key moves only from partition p to p+k*%d, whose records surge holds back until p is consumed past the resize; otherwise keys move between existing partitions and per-key order cannot be kept (pass --allow-reorder to accept that)",
			ErrNotMultiple, old, new, lo, lo+old, old)
	}
	return true, nil
}

// MovedShare is the exact share of keys whose partition changes from
// old to new partitions for a uniform hash. The pair (h mod old, h mod new)
// repeats every lcm(old, new) hash values and, by the Chinese remainder
// theorem, takes each compatible pair once per period; a key stays iff both
// are equal, which happens for min(old, new) of the lcm residues. So the
// share is 1 - min(old, new)/lcm(old, new): for new = k*old, 1 - 1/k.
func MovedShare(old, new int32) float64 {
	if old < 1 || new < 1 {
		return 0
	}
	return 1 - float64(min(old, new))/float64(lcm(int64(old), int64(new)))
}

// Feeds maps each old partition to the new partitions its keys spread over
// (itself included when some keys stay), for a uniform hash.
func Feeds(old, new int32) map[int32][]int32 {
	out := make(map[int32][]int32, old)
	if old < 1 || new < 1 {
		return out
	}
	if new%old == 0 {
		for p := int32(0); p < old; p++ {
			for q := p; q < new; q += old {
				out[p] = append(out[p], q)
			}
		}
		return out
	}
	l := lcm(int64(old), int64(new))
	seen := map[[2]int32]bool{}
	for r := int64(0); r < l && r < 1<<22; r++ {
		k := [2]int32{int32(r % int64(old)), int32(r % int64(new))}
		if !seen[k] {
			seen[k] = true
			out[k[0]] = append(out[k[0]], k[1])
		}
	}
	for p := range out {
		slices.Sort(out[p])
	}
	return out
}

// KeyPartition is the partition surge's producers write key to among n:
// murmur2 like the Java client (kgo.StickyKeyPartitioner(nil)).
func KeyPartition(key []byte, n int32) int32 {
	return int32(keyPartitioner.Partition(&kgo.Record{Key: key}, int(n)))
}

var keyPartitioner = kgo.StickyKeyPartitioner(nil).ForTopic("")

// SampleMoved counts the distinct keys among keys whose partition differs
// between old and new counts.
func SampleMoved(keys [][]byte, old, new int32) (distinct, moved int) {
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if k == nil || seen[string(k)] {
			continue
		}
		seen[string(k)] = true
		distinct++
		if KeyPartition(k, old) != KeyPartition(k, new) {
			moved++
		}
	}
	return distinct, moved
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func lcm(a, b int64) int64 { return a / gcd(a, b) * b }
