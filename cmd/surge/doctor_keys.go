package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/sink"
)

// doctorKeySample is how many of the newest records per partition the
// keying check reads.
const doctorKeySample = 500

// doctorKeying samples the newest records of the event topics and checks
// that each is keyed by its user_id and sits on murmur2(key)'s partition
// (as the sink and the triggers do on every record): a producer that
// partitions otherwise breaks per-user order and co-partitioning.
func doctorKeying(ctx context.Context, kc stream.ClientConfig, rep *doctorReport) {
	t := stream.DefaultTopics()
	samples, err := sink.SampleKeying(ctx, kc.Opts(), "", []string{t.Orders, t.OrdersPriority, t.UserEvents, t.Coupons}, doctorKeySample)
	if err != nil {
		rep.add("keying", analytics.CheckWarn, "could not sample the topics: "+err.Error(), "check the brokers, then run surge doctor again")
		return
	}
	for _, s := range samples {
		rep.Checks = append(rep.Checks, doctorKeyingCheck(s))
	}
}

func doctorKeyingCheck(s sink.KeyingSample) doctorCheck {
	c := doctorCheck{Name: "keying " + s.Topic, Status: analytics.CheckOK}
	bad := 0
	var reasons []string
	for r, n := range s.Mismatched {
		bad += n
		reasons = append(reasons, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(reasons)
	if bad == 0 {
		c.Message = fmt.Sprintf("%d newest records sampled: all keyed by user_id on murmur2's partition", s.Sampled)
		return c
	}
	c.Status = analytics.CheckWarn
	c.Message = fmt.Sprintf("%d of %d sampled records not keyed by user_id on murmur2's partition (%s); e.g. %s",
		bad, s.Sampled, strings.Join(reasons, ", "), s.Example)
	if len(s.Clients) > 0 {
		c.Message += "; client ids: " + strings.Join(s.Clients, ", ")
	}
	var fixes []string
	if s.Mismatched[sink.MismatchPartition] > 0 {
		fixes = append(fixes, "a producer partitions otherwise than murmur2 (librdkafka clients such as kcat and confluent-kafka use CRC32 by default): set partitioner=murmur2_random (kcat -X partitioner=murmur2_random)")
	}
	if s.Mismatched[sink.MismatchKey]+s.Mismatched[sink.MismatchNoKey] > 0 {
		fixes = append(fixes, "key every record by its user_id")
	}
	c.Fix = strings.Join(fixes, "; ")
	return c
}
