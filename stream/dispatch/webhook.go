package dispatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Webhook headers sent with every delivery.
const (
	WebhookEventID        = "surge-event-id"
	WebhookTopic          = "surge-topic"
	WebhookPartition      = "surge-partition"
	WebhookOffset         = "surge-offset"
	WebhookAttempt        = "surge-attempt"
	WebhookIdempotencyKey = "Idempotency-Key"
)

// DefaultWebhookTimeout bounds one webhook request unless WebhookTimeout
// says otherwise.
const DefaultWebhookTimeout = 10 * time.Second

// Webhook returns a Handler that POSTs each record's event JSON to url with
// the surge-event-id, surge-topic, surge-partition, surge-offset and
// surge-attempt headers and Idempotency-Key = the event id. A 2xx answer
// is done; 408, 429, 5xx, timeouts and connection errors are retried; any
// other status (4xx, 3xx) is a permanent failure and dead-letters the
// record. timeout bounds each request (0: DefaultWebhookTimeout); client
// nil uses a client of its own.
func Webhook(url string, timeout time.Duration, client *http.Client) Handler {
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	if client == nil {
		client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}}
	}
	return func(ctx context.Context, r Record) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(r.Value))
		if err != nil {
			return Permanent(fmt.Errorf("build webhook request: %w", err))
		}
		h := req.Header
		h.Set("Content-Type", "application/json")
		h.Set(WebhookEventID, r.EventID)
		h.Set(WebhookTopic, r.Topic)
		h.Set(WebhookPartition, strconv.Itoa(int(r.Partition)))
		h.Set(WebhookOffset, strconv.FormatInt(r.Offset, 10))
		h.Set(WebhookAttempt, strconv.Itoa(r.Attempt))
		h.Set(WebhookIdempotencyKey, r.IdempotencyKey())
		resp, err := client.Do(req)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("webhook %s: timed out after %s", url, timeout)
			}
			return fmt.Errorf("webhook %s: %w", url, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch c := resp.StatusCode; {
		case c >= 200 && c < 300:
			return nil
		case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
			return fmt.Errorf("webhook %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
		default:
			return Permanent(fmt.Errorf("webhook %s: %s: %s", url, resp.Status, bytes.TrimSpace(body)))
		}
	}
}
