package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// itemState is where one record of a request stands.
type itemState uint8

const (
	itemPending  itemState = iota // handed to Kafka, no answer yet
	itemAccepted                  // acknowledged by Kafka in this request
	itemReplayed                  // acknowledged for an earlier request with the same idempotency key
	itemRejected                  // invalid; never handed to Kafka
	itemFailed                    // Kafka did not take it (or did not answer in time)
)

// itemResult is the outcome of one record of a request.
type itemResult struct {
	state   itemState
	kind    schemas.Kind
	eventID string
	ack     stream.Ack
	err     *APIError
}

func (r *itemResult) ok() bool { return r.state == itemAccepted || r.state == itemReplayed }

// intake is one request's records on their way to Kafka. The producer's
// callbacks fill res under mu; the last one finishes the idempotency claim,
// whether or not the request is still waiting, so a retry always finds
// the real outcome.
type intake struct {
	g     *Gateway
	who   *principal
	recs  []schemas.Record // nil for items rejected before producing
	sizes []int
	e     *claim // hold on the idempotency key, if the request has one

	mu     sync.Mutex
	res    []itemResult
	left   int
	done   chan struct{}
	counts [numKinds][2]int64 // answered records by kind and failed/accepted, for the metrics

	// storage of a single-record request, so that it costs one allocation
	rec1  [1]schemas.Record
	size1 [1]int
	res1  [1]itemResult
}

func newIntake(g *Gateway, who *principal, n int) *intake {
	it := &intake{g: g, who: who}
	if n == 1 {
		it.recs, it.sizes, it.res = it.rec1[:], it.size1[:], it.res1[:]
		return it
	}
	it.recs, it.sizes, it.res = make([]schemas.Record, n), make([]int, n), make([]itemResult, n)
	return it
}

// refusal is a whole-request refusal: a status, an error and how long to
// wait before a retry (0: no Retry-After).
type refusal struct {
	status     int
	err        *APIError
	retryAfter time.Duration
	reason     string
}

// admit runs the checks between a decoded request and Kafka: the
// idempotency key (waiting for a request in progress with the same key),
// the key's token bucket and the in-flight bytes. On success the items to
// produce are pending; items an earlier request with the key already
// stored are replayed.
func (it *intake) admit(ctx context.Context, key string, h bodyHash) *refusal {
	g := it.g
	if g.draining.Load() {
		return &refusal{http.StatusServiceUnavailable, apiErr(CodeShuttingDown, "the gateway is shutting down; retry on another instance"), time.Second, "shutting_down"}
	}
	if key != "" {
		for {
			e, wait, st := g.idem.begin(key, h)
			if st == claimed {
				it.e = e
				break
			}
			if st == conflict {
				return &refusal{http.StatusConflict, apiErr(CodeIdempotencyConflict,
					"this idempotency key was used with a different request body; use a new key for a new request"), 0, "idempotency_conflict"}
			}
			select {
			case <-wait: // the first request finished: look again
			case <-ctx.Done():
				return &refusal{http.StatusConflict, apiErr(CodeIdempotencyInProgress,
					"a request with this idempotency key is still waiting for Kafka; retry later"), time.Second, "idempotency_in_progress"}
			}
		}
		for i := range it.res {
			if it.e.accepted(i) {
				a := it.e.acks[i]
				it.res[i] = itemResult{state: itemReplayed, kind: a.kind, eventID: a.eventID, ack: a.ack}
			}
		}
	}
	n, bytes := 0, int64(0)
	for i, r := range it.recs {
		if r != nil && it.res[i].state == itemPending {
			n++
			bytes += int64(it.sizes[i])
		}
	}
	if n == 0 {
		it.release()
		return nil
	}
	now := g.cfg.now()
	res, delay, ok := reserve(it.who.lim, n, now)
	if !ok {
		it.release()
		if delay < 0 {
			return &refusal{http.StatusTooManyRequests, apiErr(CodeRateLimited,
				fmt.Sprintf("API key %s takes bursts of at most %d records; send smaller batches", it.who.name, it.who.lim.Burst())), time.Second, "rate_limited"}
		}
		return &refusal{http.StatusTooManyRequests, apiErr(CodeRateLimited,
			fmt.Sprintf("API key %s is over its rate limit; retry after %s", it.who.name, delay.Round(time.Millisecond))), delay, "rate_limited"}
	}
	if !g.inflight.acquire(bytes) {
		if res != nil {
			res.CancelAt(now)
		}
		it.release()
		return &refusal{http.StatusServiceUnavailable, apiErr(CodeOverloaded,
			"too many records are on their way to Kafka; retry shortly"), time.Second, "overloaded"}
	}
	it.left = n
	return nil
}

// release gives the idempotency claim back without new results.
func (it *intake) release() {
	if it.e != nil {
		it.g.idem.finish(it.e, nil)
		it.e = nil
	}
}

// produce hands the pending items to Kafka, in order. ctx bounds the wait
// for buffer space.
func (it *intake) produce(ctx context.Context) {
	if it.left == 0 {
		return
	}
	it.done = make(chan struct{})
	it.g.outstanding.Add(1)
	for i, r := range it.recs {
		if r != nil && it.res[i].state == itemPending {
			it.g.p.ProduceAsync(ctx, r, it.callback(i))
		}
	}
}

func (it *intake) callback(i int) func(stream.Ack, error) {
	return func(ack stream.Ack, err error) {
		it.g.inflight.release(int64(it.sizes[i]))
		r := it.recs[i]
		res := itemResult{state: itemAccepted, kind: r.Kind(), eventID: r.ID(), ack: ack}
		if err != nil {
			res = itemResult{state: itemFailed, err: produceError(err, it.g.cfg.produceTimeout)}
			if res.err.Code == CodeKafkaUnavailable {
				it.g.log.Warn("gateway: Kafka refused a record", "err", err)
			}
		}
		it.mu.Lock()
		it.res[i] = res
		if err == nil {
			it.counts[kindIndex(r.Kind())][1]++
		} else {
			it.counts[kindIndex(r.Kind())][0]++
		}
		it.left--
		last := it.left == 0
		it.mu.Unlock()
		if last {
			it.complete()
		}
	}
}

// complete runs once every produced item has its answer: it records the
// acks in the idempotency window (and queues them for the idempotency
// topic) and wakes the request.
func (it *intake) complete() {
	if it.e != nil {
		acks := make([]savedAck, len(it.res))
		for i := range it.res {
			if r := &it.res[i]; r.ok() {
				acks[i] = savedAck{ok: true, kind: r.kind, eventID: r.eventID, ack: r.ack}
			}
		}
		if snap := it.g.idem.finish(it.e, acks); snap != nil && it.g.ilog != nil {
			it.g.ilog.enqueue(it.e, snap)
		}
	}
	it.g.m.addRecords(&it.counts)
	close(it.done)
	it.g.outstanding.Done()
}

// wait waits for every produced item's answer or for ctx, and returns the
// results as they stand; items still pending are reported failed with
// kafka_timeout (their outcome is unknown).
func (it *intake) wait(ctx context.Context) []itemResult {
	if !it.await(ctx) {
		it.mu.Lock()
		out := append([]itemResult(nil), it.res...)
		it.mu.Unlock()
		for i := range out {
			if it.recs[i] != nil && out[i].state == itemPending {
				out[i] = it.timeoutResult()
			}
		}
		return out
	}
	return it.res // complete: no callback writes any more
}

// waitOne is wait for a single-record request.
func (it *intake) waitOne(ctx context.Context) itemResult {
	if !it.await(ctx) {
		it.mu.Lock()
		r := it.res[0]
		it.mu.Unlock()
		if r.state == itemPending {
			r = it.timeoutResult()
		}
		return r
	}
	return it.res[0]
}

// await reports whether every produced item was answered before ctx ended.
func (it *intake) await(ctx context.Context) bool {
	if it.done == nil {
		return true
	}
	select {
	case <-it.done:
		return true
	case <-ctx.Done():
		select {
		case <-it.done:
			return true
		default:
			return false
		}
	}
}

func (it *intake) timeoutResult() itemResult {
	return itemResult{state: itemFailed, err: apiErr(CodeKafkaTimeout, fmt.Sprintf(
		"Kafka did not acknowledge within %s; the record may still be written: retry with the same Idempotency-Key to get its outcome without a duplicate",
		it.g.cfg.produceTimeout))}
}

// produceError maps a producer error to the refusal reported for the item.
func produceError(err error, timeout time.Duration) *APIError {
	switch {
	case errors.Is(err, stream.ErrProducerClosed):
		return apiErr(CodeShuttingDown, "the gateway is shutting down; nothing was written")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return apiErr(CodeOverloaded, fmt.Sprintf("the producer's buffer stayed full for %s; nothing was written", timeout))
	case errors.Is(err, schemas.ErrInvalid):
		return apiErr(CodeInvalidRecord, err.Error())
	}
	// The client's own error text may name broker addresses: the answer
	// gives Kafka's error name only, the log has the rest.
	msg := "Kafka refused the record, nothing was written; the gateway log has the details"
	var ke *kerr.Error
	if errors.As(err, &ke) {
		msg = "Kafka refused the record, nothing was written: " + ke.Message
	}
	return apiErr(CodeKafkaUnavailable, msg)
}

// failureStatus is the status of a request whose items all failed.
func failureStatus(e *APIError) int {
	if e != nil && e.Code == CodeInvalidRecord {
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable
}
