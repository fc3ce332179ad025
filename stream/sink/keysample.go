package sink

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/control"
)

// KeyingSample is what SampleKeying found on one topic.
type KeyingSample struct {
	Topic      string
	Partitions int32
	Sampled    int            // records decoded
	Mismatched map[string]int // by reason (MismatchNoKey, MismatchKey, MismatchPartition)
	Clients    []string       // client ids (header client_id) of mismatched records, sorted
	// Example is one mismatched record, with its provenance.
	Example string
}

// SampleKeying reads up to perPartition of the newest records of each
// partition of topics and checks them as the sink does (see keycheck.go):
// key equal to user_id, partition equal to murmur2(key) mod one of the
// counts the topic had (resizes read from the control topic controlTopic,
// "" for the default; it is not created). Records that do not decode are
// not counted.
func SampleKeying(ctx context.Context, clientOpts []kgo.Opt, controlTopic string, topics []string, perPartition int64) ([]KeyingSample, error) {
	cl, err := kgo.NewClient(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("sample keying: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	td, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("sample keying: list topics: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("sample keying: list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("sample keying: list end offsets: %w", err)
	}
	st, err := control.ReadState(ctx, controlTopic, clientOpts)
	if err != nil {
		st = nil // without it only the current count is known
	}
	layouts := map[string]topicLayout{}
	from := map[string]map[int32]kgo.Offset{}
	want := map[string]map[int32]int64{} // last offset to read
	for _, t := range topics {
		d, ok := td[t]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			continue
		}
		cur := int32(len(d.Partitions))
		l := topicLayout{current: cur, base: cur, counts: []int32{cur}}
		if st != nil {
			l.base = st.BaseCount(t, d.ID.String(), cur)
			l.counts = st.Counts(t, d.ID.String(), cur)
		}
		layouts[t] = l
		for p := range cur {
			s, sok := starts.Lookup(t, p)
			e, eok := ends.Lookup(t, p)
			if !sok || !eok || s.Err != nil || e.Err != nil || e.Offset <= s.Offset {
				continue
			}
			if from[t] == nil {
				from[t], want[t] = map[int32]kgo.Offset{}, map[int32]int64{}
			}
			from[t][p] = kgo.NewOffset().At(max(s.Offset, e.Offset-perPartition))
			want[t][p] = e.Offset - 1
		}
	}
	out := make(map[string]*KeyingSample)
	for t, l := range layouts {
		out[t] = &KeyingSample{Topic: t, Partitions: l.current, Mismatched: map[string]int{}}
	}
	if len(from) > 0 {
		if err := sampleRead(ctx, clientOpts, from, want, layouts, out); err != nil {
			return nil, err
		}
	}
	var res []KeyingSample
	for _, t := range topics {
		if s := out[t]; s != nil {
			slices.Sort(s.Clients)
			s.Clients = slices.Compact(s.Clients)
			res = append(res, *s)
		}
	}
	return res, nil
}

func sampleRead(ctx context.Context, clientOpts []kgo.Opt, from map[string]map[int32]kgo.Offset,
	want map[string]map[int32]int64, layouts map[string]topicLayout, out map[string]*KeyingSample) error {
	cl, err := kgo.NewClient(append(slices.Clone(clientOpts), kgo.ConsumePartitions(from),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()))...)
	if err != nil {
		return fmt.Errorf("sample keying: %w", err)
	}
	defer cl.Close()
	left := 0
	for _, ps := range want {
		left += len(ps)
	}
	// A partition whose last offset is a transaction marker never delivers
	// it: three quiet seconds end the sample too.
	for left > 0 {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil || fs.NumRecords() == 0 {
			return nil // what was read so far is the sample
		}
		fs.EachRecord(func(r *kgo.Record) {
			last, ok := want[r.Topic][r.Partition]
			if !ok || r.Offset > last {
				return
			}
			if r.Offset == last {
				delete(want[r.Topic], r.Partition)
				left--
			}
			rec, err := schemas.Decode(r.Value)
			if err != nil {
				return
			}
			s := out[r.Topic]
			s.Sampled++
			why := keyCheck(layouts[r.Topic], r, rec, control.Murmur2(rec.Key()))
			if why == "" {
				return
			}
			s.Mismatched[why]++
			if c := clientID(r); c != "" {
				s.Clients = append(s.Clients, c)
			}
			if s.Example == "" {
				s.Example = fmt.Sprintf("partition %d offset %d key %q user_id %q", r.Partition, r.Offset, r.Key, rec.Key())
				if why == MismatchPartition {
					s.Example += fmt.Sprintf(" (murmur2 puts it on partition %d)", control.KeyPartition(r.Key, layouts[r.Topic].current))
				}
			}
		})
	}
	return nil
}
