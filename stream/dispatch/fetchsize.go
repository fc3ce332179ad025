package dispatch

import (
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Fetch sizing.
//
// kgo keeps one fetch per broker buffered and sends the next fetch
// request only once the buffered one is drained. With kgo's default
// fetch size (50 MiB, 1 MiB per partition) a fetch of small compressed
// records holds hundreds of thousands of them, many times a lane's
// buffer: the dispatcher drains it at the handlers' pace, and only then
// does the next fetch start, while the lanes run dry. So the dispatcher
// sizes its fetches to about half a lane's buffer of records (at the
// compressed size per record seen so far): a fetch is drained as soon as
// the lane has room, the next one is fetched while the lane works
// through what it holds, and the first records of a fresh assignment
// arrive after a small fetch instead of a huge one.
//
// A fetch is shared out over the owned partitions: each partition's
// share (the fetch's partition bytes) is the fetch size over the number
// of partitions, and the fetch size is raised to hold every partition's
// share. Otherwise a broker that fills a fetch from the partitions it
// served last (the embedded one does) would hand out one partition at a
// time, and the per-partition in-flight bound would hold the handlers
// back. A partition's share is at least twice the largest batch seen, so
// that no partition's batches are too large for its share.
//
// The sizes never go above the client's configured maxima (kgo's
// defaults, or what ClientConfig.ExtraOpts set). The group client and
// the retry client are sized each from its own fetches.

// fetchSizer learns the compressed bytes per record from a client's
// fetches (a kgo hook) and sets the client's fetch sizes.
type fetchSizer struct {
	records  atomic.Int64 // records read from fetched batches
	bytes    atomic.Int64 // their compressed bytes
	maxBatch atomic.Int64 // the largest batch, compressed bytes

	mu        sync.Mutex
	cl        *kgo.Client // nil before start, or when not sizing
	target    int64       // records per fetch
	max       int32       // the client's configured FetchMaxBytes
	partMax   int32       // the client's configured FetchMaxPartitionBytes
	perRecord int64       // compressed bytes per record, learnt
	parts     int         // partitions owned
	cur       int32       // the fetch size set
	curPart   int32       // the partition bytes set
	seenRecs  int64       // records and bytes at the last lesson
	seenBytes int64
	seenBatch int64 // maxBatch at the last resize
	lastParts int   // parts at the last resize
}

const (
	// minFetchBytes and minPartBytes bound the fetch and partition
	// sizes from below: smaller fetches cost more in round trips than
	// they save.
	minFetchBytes = 64 << 10
	minPartBytes  = 32 << 10
	// guessRecordBytes is the compressed size per record assumed before
	// the first fetch shows it: small, since a first fetch too small is
	// soon corrected, and one too large holds more than a lane takes in
	// (and then the lane takes in the first partitions of it only).
	guessRecordBytes = 16
	// sizeSample is how many records a new size is learnt from.
	sizeSample = 2048
)

func newFetchSizer(maxBuffered int) *fetchSizer {
	return &fetchSizer{target: max(1, int64(maxBuffered)/2), perRecord: guessRecordBytes}
}

// OnFetchBatchRead implements kgo.HookFetchBatchRead.
func (s *fetchSizer) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	s.records.Add(int64(m.NumRecords))
	s.bytes.Add(int64(m.CompressedBytes))
	for b := int64(m.CompressedBytes); ; {
		old := s.maxBatch.Load()
		if b <= old || s.maxBatch.CompareAndSwap(old, b) {
			break
		}
	}
}

// start sets cl's first fetch sizes, before it fetches anything.
func (s *fetchSizer) start(cl *kgo.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.max, _ = cl.OptValue(kgo.FetchMaxBytes).(int32)
	s.partMax, _ = cl.OptValue(kgo.FetchMaxPartitionBytes).(int32)
	if s.max <= 0 || s.partMax <= 0 {
		return // unknown maxima: leave kgo's sizes alone
	}
	s.cl = cl
	s.resizeLocked(true)
}

// setPartitions records how many partitions the client fetches and
// resizes; called on assignment (before kgo fetches the new partitions)
// and when partitions are dropped.
func (s *fetchSizer) setPartitions(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parts = n
	s.resizeLocked(false)
}

// tune learns the size per record once enough records were fetched since
// the last lesson, and resizes; called by the client's poller.
func (s *fetchSizer) tune() {
	n, b := s.records.Load(), s.bytes.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	dn := n - s.seenRecs
	if dn < sizeSample && s.maxBatch.Load() == s.seenBatch {
		return
	}
	if dn >= sizeSample {
		s.perRecord = max(1, (b-s.seenBytes)/dn)
		s.seenRecs, s.seenBytes = n, b
	}
	s.resizeLocked(false)
}

// resizeLocked sets the sizes for target records of perRecord bytes
// shared out over the partitions, unless each is within a quarter of
// what is set (and the partitions did not change).
func (s *fetchSizer) resizeLocked(force bool) {
	if s.cl == nil {
		return
	}
	batch := s.maxBatch.Load()
	s.seenBatch = batch
	parts := int64(max(1, s.parts))
	total := min(max(s.perRecord*s.target, minFetchBytes), int64(s.max))
	part := min(max(total/parts, 2*batch, minPartBytes), int64(s.partMax))
	total = min(max(total, part*parts), int64(s.max))
	part = min(part, total)
	near := func(v int64, cur int32) bool { return v > int64(cur-cur/4) && v < int64(cur+cur/4) }
	if !force && s.parts == s.lastParts && near(total, s.cur) && near(part, s.curPart) {
		return
	}
	s.cur, s.curPart, s.lastParts = int32(total), int32(part), s.parts
	s.cl.UpdateFetchMaxBytes(s.cur, s.curPart)
}
