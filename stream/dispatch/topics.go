package dispatch

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ensureRetryTopics creates each lane's retry topic with the lane's
// partition count, or grows an existing one to it: a source record is
// parked in the retry partition of the same number. A source topic that
// gains partitions later has its retry topic grown when the new partitions
// are assigned (growRetryTopics).
func (d *Dispatcher) ensureRetryTopics(ctx context.Context, adm *kadm.Client) error {
	src, err := adm.ListTopics(ctx, d.cfg.topics...)
	if err != nil {
		return fmt.Errorf("describe topics: %w", err)
	}
	for _, t := range d.cfg.topics {
		td, ok := src[t]
		if !ok || td.Err != nil {
			return fmt.Errorf("topic %s not found: create it first (surge topics create)", t)
		}
		want := int32(len(td.Partitions))
		rt := RetryTopic(d.cfg.group, t)
		if err := ensureTopic(ctx, adm, rt, want, nil); err != nil {
			return err
		}
	}
	return nil
}

// growRetryTopics returns the end offsets of the retry topics of the
// assigned source partitions, first growing a retry topic that lacks one
// of them: the source topic gained partitions while the group ran.
func (d *Dispatcher) growRetryTopics(ctx context.Context, adm *kadm.Client, assigned map[string][]int32) (kadm.ListedOffsets, error) {
	var rts []string
	for t := range assigned {
		rts = append(rts, RetryTopic(d.cfg.group, t))
	}
	ends, err := adm.ListEndOffsets(ctx, rts...)
	if err != nil {
		return nil, fmt.Errorf("list retry topic end offsets: %w", err)
	}
	grown := false
	for t, ps := range assigned {
		rt := RetryTopic(d.cfg.group, t)
		want := int32(0)
		for _, p := range ps {
			if o, ok := ends.Lookup(rt, p); !ok || o.Err != nil {
				want = max(want, p+1)
			}
		}
		if want == 0 {
			continue
		}
		src, err := adm.ListTopics(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("describe topic %s: %w", t, err)
		}
		if td, ok := src[t]; ok && td.Err == nil {
			want = max(want, int32(len(td.Partitions)))
		}
		if err := ensureTopic(ctx, adm, rt, want, nil); err != nil {
			return nil, err
		}
		d.eng.log.Info("retry topic grown to its source's partitions", "topic", rt, "partitions", want)
		grown = true
	}
	if !grown {
		return ends, nil
	}
	d.cl.ForceMetadataRefresh()
	return adm.ListEndOffsets(ctx, rts...)
}

// ensureTopic creates topic with at least partitions partitions, growing
// it when it has fewer.
func ensureTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) error {
	have, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("describe topic %s: %w", topic, err)
	}
	if td, ok := have[topic]; ok && td.Err == nil {
		if n := int32(len(td.Partitions)); n < partitions {
			if _, err := adm.UpdatePartitions(ctx, int(partitions), topic); err != nil {
				return fmt.Errorf("grow topic %s to %d partitions: %w", topic, partitions, err)
			}
		}
		return nil
	}
	resp, err := adm.CreateTopic(ctx, partitions, -1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}
