package admin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TopicInfo is one line of a topic listing.
type TopicInfo struct {
	Name              string `json:"name"`
	ID                string `json:"id,omitempty"`
	Partitions        int32  `json:"partitions"`
	ReplicationFactor int16  `json:"replication_factor"`
}

// TopicDetail describes one topic: its partitions with their offsets, and
// its effective configs.
type TopicDetail struct {
	Name              string            `json:"name"`
	ID                string            `json:"id,omitempty"`
	ReplicationFactor int16             `json:"replication_factor"`
	Partitions        []PartitionDetail `json:"partitions"`
	// Records is the sum of the partitions' Records.
	Records int64             `json:"records"`
	Configs map[string]string `json:"configs"`
}

// PartitionDetail describes one partition of a topic.
type PartitionDetail struct {
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	// StartOffset is the first offset still stored (log start).
	StartOffset int64 `json:"start_offset"`
	// EndOffset is the offset the next record will get (high watermark).
	EndOffset int64 `json:"end_offset"`
	// Records is EndOffset-StartOffset: exact for surge's idempotent,
	// non-transactional writes; transaction markers count as records.
	Records int64 `json:"records"`
}

// ListTopics lists the cluster's topics sorted by name, leaving out
// internal ones (__consumer_offsets, __transaction_state and any other
// name starting with "__").
func (a *Admin) ListTopics(ctx context.Context) ([]TopicInfo, error) {
	ctx = fresh(ctx)
	tds, err := a.adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	infos := make([]TopicInfo, 0, len(tds))
	for _, td := range tds.Sorted() {
		if td.IsInternal || strings.HasPrefix(td.Topic, "__") {
			continue
		}
		if td.Err != nil {
			return nil, fmt.Errorf("list topics: %s: %w", td.Topic, td.Err)
		}
		infos = append(infos, TopicInfo{
			Name:              td.Topic,
			ID:                topicID(td.ID),
			Partitions:        int32(len(td.Partitions)),
			ReplicationFactor: int16(td.Partitions.NumReplicas()),
		})
	}
	return infos, nil
}

// DescribeTopic describes the named topic. It fails with ErrTopicNotFound
// when the cluster does not have it.
func (a *Admin) DescribeTopic(ctx context.Context, name string) (*TopicDetail, error) {
	ctx = fresh(ctx)
	tds, err := a.adm.ListTopics(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", name, err)
	}
	td, ok := tds[name]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return nil, fmt.Errorf("describe topic %s: %w", name, ErrTopicNotFound)
	}
	if td.Err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", name, td.Err)
	}
	starts, err := a.adm.ListStartOffsets(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: start offsets: %w", name, err)
	}
	ends, err := a.adm.ListEndOffsets(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: end offsets: %w", name, err)
	}
	cfgs, err := a.topicConfigs(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", name, err)
	}

	d := &TopicDetail{
		Name:              name,
		ID:                topicID(td.ID),
		ReplicationFactor: int16(td.Partitions.NumReplicas()),
		Partitions:        make([]PartitionDetail, 0, len(td.Partitions)),
		Configs:           cfgs,
	}
	for _, pd := range td.Partitions.Sorted() {
		start, err := offsetOf(starts, name, pd.Partition)
		if err != nil {
			return nil, fmt.Errorf("describe topic %s: start offset: %w", name, err)
		}
		end, err := offsetOf(ends, name, pd.Partition)
		if err != nil {
			return nil, fmt.Errorf("describe topic %s: end offset: %w", name, err)
		}
		p := PartitionDetail{
			Partition:   pd.Partition,
			Leader:      pd.Leader,
			Replicas:    sortedCopy(pd.Replicas),
			ISR:         sortedCopy(pd.ISR),
			StartOffset: start,
			EndOffset:   end,
			Records:     max(0, end-start),
		}
		d.Records += p.Records
		d.Partitions = append(d.Partitions, p)
	}
	return d, nil
}

func offsetOf(lo kadm.ListedOffsets, topic string, partition int32) (int64, error) {
	o, ok := lo.Lookup(topic, partition)
	if !ok {
		return 0, fmt.Errorf("partition %d missing from response", partition)
	}
	if o.Err != nil {
		return 0, fmt.Errorf("partition %d: %w", partition, o.Err)
	}
	return o.Offset, nil
}

func topicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return ""
	}
	return id.String()
}

func sortedCopy(s []int32) []int32 {
	c := append([]int32{}, s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c
}
