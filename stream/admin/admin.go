package admin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrTopicNotFound is returned for a topic the cluster does not have.
var ErrTopicNotFound = errors.New("topic not found")

// ErrInternalTopicName is returned for a topic name starting with "__":
// Kafka keeps such names for its own topics (__consumer_offsets,
// __transaction_state), and tools such as Burrow read them as Kafka's.
var ErrInternalTopicName = errors.New(`names starting with "__" are reserved for Kafka's internal topics`)

// Topic statuses reported by EnsureTopics.
const (
	StatusCreated = "created"
	StatusExists  = "exists"
)

// Admin administers a cluster's topics.
type Admin struct {
	adm *kadm.Client
}

// New returns an Admin that sends its requests through cl. Closing cl is
// the caller's job.
func New(cl *kgo.Client) *Admin {
	return &Admin{adm: kadm.NewClient(cl)}
}

// TopicResult is what EnsureTopics did for one spec.
type TopicResult struct {
	Name   string `json:"name"`
	Status string `json:"status"` // StatusCreated or StatusExists
	// Partitions is the topic's partition count after the call.
	Partitions int32 `json:"partitions"`
	// Warning says how an existing topic differs from its spec, if it
	// does; EnsureTopics never changes an existing topic.
	Warning string `json:"warning,omitempty"`
}

// EnsureTopics creates the topics in specs that do not exist yet and
// reports on the ones that do, in spec order. It is idempotent and never
// shrinks, repartitions or reconfigures an existing topic: when one has
// fewer partitions, a different replication factor or different configs
// than its spec, the result carries a Warning instead. A topic that
// another client creates concurrently is reported as existing.
//
// On error, the results for the specs handled so far are returned with it.
func (a *Admin) EnsureTopics(ctx context.Context, specs []TopicSpec) ([]TopicResult, error) {
	ctx = fresh(ctx)
	names := make([]string, len(specs))
	for i, s := range specs {
		if s.Name == "" {
			return nil, fmt.Errorf("ensure topics: spec %d has no name", i)
		}
		if strings.HasPrefix(s.Name, "__") {
			return nil, fmt.Errorf("ensure topics: topic %q: %w; choose another name", s.Name, ErrInternalTopicName)
		}
		names[i] = s.Name
	}
	existing, err := a.existing(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("ensure topics: %w", err)
	}

	results := make([]TopicResult, 0, len(specs))
	for _, s := range specs {
		if td, ok := existing[s.Name]; ok {
			r, err := a.compare(ctx, s, td)
			if err != nil {
				return results, fmt.Errorf("ensure topic %s: %w", s.Name, err)
			}
			results = append(results, r)
			continue
		}
		resp, err := a.adm.CreateTopic(ctx, s.Partitions, s.ReplicationFactor, configPtrs(s.Configs), s.Name)
		if errors.Is(err, kerr.TopicAlreadyExists) {
			td, err := a.existing(ctx, []string{s.Name})
			if err != nil {
				return results, fmt.Errorf("ensure topic %s: %w", s.Name, err)
			}
			r, err := a.compare(ctx, s, td[s.Name])
			if err != nil {
				return results, fmt.Errorf("ensure topic %s: %w", s.Name, err)
			}
			results = append(results, r)
			continue
		}
		if err != nil {
			if resp.ErrMessage != "" {
				err = fmt.Errorf("%w: %s", err, resp.ErrMessage)
			}
			return results, fmt.Errorf("create topic %s: %w", s.Name, err)
		}
		results = append(results, TopicResult{
			Name:       s.Name,
			Status:     StatusCreated,
			Partitions: resp.NumPartitions,
		})
	}
	return results, nil
}

// existing returns the details of the named topics that exist.
func (a *Admin) existing(ctx context.Context, names []string) (kadm.TopicDetails, error) {
	tds, err := a.adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	for name, td := range tds {
		switch {
		case td.Err == nil:
		case errors.Is(td.Err, kerr.UnknownTopicOrPartition):
			delete(tds, name)
		default:
			return nil, fmt.Errorf("describe topic %s: %w", name, td.Err)
		}
	}
	return tds, nil
}

// compare reports an existing topic against its spec.
func (a *Admin) compare(ctx context.Context, s TopicSpec, td kadm.TopicDetail) (TopicResult, error) {
	r := TopicResult{Name: s.Name, Status: StatusExists, Partitions: int32(len(td.Partitions))}
	var warns []string
	if s.Partitions > 0 && r.Partitions < s.Partitions {
		warns = append(warns, fmt.Sprintf("has %d partitions, spec asks for %d (not added here: adding partitions moves keys to other partitions)",
			r.Partitions, s.Partitions))
	}
	if rf := int16(td.Partitions.NumReplicas()); s.ReplicationFactor > 0 && rf != s.ReplicationFactor {
		warns = append(warns, fmt.Sprintf("has replication factor %d, spec asks for %d", rf, s.ReplicationFactor))
	}
	if len(s.Configs) > 0 {
		current, err := a.topicConfigs(ctx, s.Name)
		if err != nil {
			return r, err
		}
		keys := make([]string, 0, len(s.Configs))
		for k := range s.Configs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if got, want := current[k], s.Configs[k]; got != want {
				warns = append(warns, fmt.Sprintf("%s is %q, spec asks for %q", k, got, want))
			}
		}
	}
	r.Warning = strings.Join(warns, "; ")
	return r, nil
}

// topicConfigs returns a topic's effective configs.
func (a *Admin) topicConfigs(ctx context.Context, name string) (map[string]string, error) {
	rcs, err := a.adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("describe configs: %w", err)
	}
	rc, err := rcs.On(name, nil)
	if err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("%w: %s", ErrTopicNotFound, name)
		}
		return nil, fmt.Errorf("describe configs: %w", err)
	}
	if rc.Err != nil {
		if errors.Is(rc.Err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("%w: %s", ErrTopicNotFound, name)
		}
		return nil, fmt.Errorf("describe configs: %w", rc.Err)
	}
	cfgs := make(map[string]string, len(rc.Configs))
	for _, c := range rc.Configs {
		if !c.Sensitive {
			cfgs[c.Key] = c.MaybeValue()
		}
	}
	return cfgs, nil
}

// fresh makes kadm send its metadata requests to the broker instead of
// answering from the client's metadata cache (kept up to 5s), which would
// still show a topic created a moment ago as missing. kadm bypasses the
// cache when asked for authorized operations; administration is rare
// enough that always asking costs nothing noticeable.
func fresh(ctx context.Context) context.Context {
	return kadm.WithAuthorizedOps(ctx)
}

func configPtrs(m map[string]string) map[string]*string {
	if len(m) == 0 {
		return nil
	}
	ps := make(map[string]*string, len(m))
	for k, v := range m {
		ps[k] = kadm.StringPtr(v)
	}
	return ps
}
