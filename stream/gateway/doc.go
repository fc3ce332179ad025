// Package gateway is surge's HTTP intake: web shops, mobile backends and
// point-of-sale systems POST orders and shopper events, and the gateway
// writes them to Kafka through a stream.Producer, answering 202 only once
// Kafka acknowledged them.
//
// # Routes
//
//	POST /v1/orders        one order (JSON)                   scope orders:write
//	POST /v1/events        one user_event or order_status     scope events:write
//	POST /v1/events:batch  up to 1000 events: a JSON array,   scope events:write
//	                       or NDJSON (application/x-ndjson)
//	GET  /healthz          the process is up
//	GET  /readyz           the broker is reachable and every topic exists (cached 1s)
//	GET  /metrics          Prometheus metrics
//	GET  /openapi.json     the OpenAPI 3.0 description of all of this
//
// An order_status record needs ScopeOrdersWrite as well as the route's
// ScopeEventsWrite: it changes an order the payment and inventory services
// act on. Without it the record is refused 403 forbidden (in a batch, that
// item is rejected; a batch whose items are all refused so is 403).
//
// A body may be gzipped (Content-Encoding: gzip); the size limits apply to
// the decompressed body, so a compression bomb gets 413. Other encodings
// get 415 unsupported_encoding. A body that has not arrived within the
// read timeout (WithReadTimeout, 30s) gets 408 request_timeout. No answer
// carries a transport error's text (which names socket addresses).
//
// Records are validated by package schemas (the same rules the producer
// library and the sink apply) and keyed by user_id. An event without
// "kind" is a user_event. Orders with priority vip or urgent, and order
// status changes carrying that priority, go to the priority lane (topic
// orders-priority, stream.Topics.Route); the others to orders.
//
// # Answers
//
// 202 means Kafka acknowledged the record (acks=all, idempotent producer):
//
//	{"status":"accepted","kind":"order","event_id":"01J…","topic":"orders-priority","partition":3,"offset":1207}
//
// Every error is JSON with a stable code (see the Code constants) and,
// for invalid records, the problems by field:
//
//	{"error":{"code":"invalid_record","message":"invalid order: currency: \"EURO\" is not an ISO-4217 currency",
//	          "fields":[{"field":"currency","problem":"\"EURO\" is not an ISO-4217 currency"}]}}
//
// 400 invalid record or batch, 401 no or unknown API key, 403 key without
// the route's (or the record's) scope, 404/405, 408 body too slow, 409
// idempotency conflict, 413 body, record or item count over its limit, 415
// Content-Type not JSON (or NDJSON for batches) or an encoding other than
// gzip, 429 key over its rate limit, 503 Kafka did not take the record
// in time, the gateway is overloaded or shutting down. 429 and 503 carry
// Retry-After. A refused request writes nothing to Kafka.
//
// A batch answer lists every item, in order: "accepted" (with its topic,
// partition and offset), "rejected" (invalid; the error names the fields;
// its neighbours are not affected) or "failed" (Kafka did not acknowledge
// it: retry it). The status is 202 when at least one item was accepted,
// 503 when none was and some failed, 400 when every item was invalid.
// Items are produced in batch order; when Kafka fails one record of a
// partition it fails the later ones of that partition too, so accepted
// items never overtake a failed earlier item of the same user.
//
// # Durability and the produce deadline
//
// A request waits for Kafka at most the produce timeout (5s). A record
// that could not even be buffered in that time (the producer's buffer is
// full) is failed with code "overloaded": nothing was written. A record
// that was handed to Kafka but not acknowledged in time is answered 503
// kafka_timeout: its outcome is unknown, it may still be written. The
// gateway keeps waiting for that outcome in the background and records it
// under the request's idempotency key, so a retry with the same key
// returns the real outcome (202 if it was written, a new attempt if it
// failed) and never writes it twice.
//
// # Idempotency
//
// The idempotency key of a request is its Idempotency-Key header (1-255
// printable ASCII characters), else the order_id for /v1/orders, else the
// event_id for /v1/events; batches have one only with the header. Keys are
// namespaced by API key. The first request with a key stores, per item,
// where Kafka acknowledged it; a retry with the same key and the same body
// (SHA-256 of the raw bytes) is answered from that (Idempotent-Replayed:
// true) and only items not acknowledged before are produced. The same key
// with a different body is answered 409 idempotency_key_reused. A request
// arriving while the first one with its key still waits for Kafka waits
// for it (up to the produce timeout), then answers from its result, or 409
// idempotency_key_in_progress with Retry-After when it is still unknown.
// Requests refused before producing (invalid, 429, 503 overloaded) store
// nothing.
//
// Results are kept for the idempotency window (24h) and at most
// DefaultIdempotencyMaxKeys keys in memory, the oldest dropped first
// (surge_gateway_idempotency_evicted_total counts keys dropped early). They
// are also written, in batches a few milliseconds after the answer, to
// the compacted topic gateway-idempotency (key: API key name, "|",
// idempotency key; value: body hash, time and acks) and read back when a
// gateway starts, so a retry after a restart is answered the
// same. What is guaranteed: a retry within the window, with the same key
// and body, to a gateway that was stopped gracefully in between, or that
// wrote the result before it crashed, produces no second record. Not
// guaranteed: the result of a request acknowledged in the last
// milliseconds before a crash (kill -9) may not have reached the topic yet,
// and gateway instances read the topic only when they start, so a retry
// landing on another instance that is already running does not see it:
// route retries of a key to the same instance (for example by hashing the
// Idempotency-Key at the load balancer). A batch sent without an
// Idempotency-Key is not de-duplicated here: retrying it can write
// duplicates of the items whose result was unknown (kafka_timeout); sending
// batches with a key makes retries safe. Whatever gets through twice, the
// ClickHouse sink stores once by event_id within its dedup window (see
// package stream/sink), and the triggers apply once.
//
// # Auth
//
// API keys are kept at rest as SHA-256 hashes in a YAML keys file (see
// Key and LoadKeys), each with a name, scopes and an optional rate. A
// request carries its key as "Authorization: Bearer KEY" or "X-API-Key:
// KEY"; its hash is compared with every configured hash in constant time.
// WithoutAuth disables keys for a local demo, loudly.
//
// # Limits and backpressure
//
// Bodies are bounded (1 MiB for one record, 5 MiB and 1000 items for a
// batch; a record also by schemas.MaxRecordBytes). Each API key has an
// optional token bucket of records/s (golang.org/x/time/rate): a request
// over it is answered 429 with Retry-After before anything is produced.
// The bytes of records on their way to Kafka are bounded (64 MiB): a
// request that does not fit is answered 503 overloaded at once rather than
// queued, so overload shows up as fast refusals, never as unbounded
// memory or latency.
//
// # Shutdown
//
// Serve stops accepting connections when its context ends, answers every
// request in progress (each waits at most the produce timeout), then
// flushes the producer and writes the outstanding idempotency results,
// all within the shutdown timeout (15s). /readyz answers 503 from the
// moment shutdown starts.
//
// # Client
//
// HTTPSender is a Go client for the gateway whose Send method fits
// loadgen.Sender: it batches events per lane, keeps each user's records
// in order and retries safely with idempotency keys.
package gateway
