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
// parked in the retry partition of the same number.
func (d *Dispatcher) ensureRetryTopics(ctx context.Context) error {
	adm := kadm.NewClient(d.cl)
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
