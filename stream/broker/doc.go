// Package broker runs surge's embedded Kafka-protocol broker: one broker
// node, in process, built on franz-go's kfake.
//
// With no --brokers flag surge starts this broker instead of connecting to a
// Kafka cluster. Every Kafka client speaks to it unchanged: franz-go, the
// Java client, librdkafka (kcat, ClickHouse's Kafka engine). It serves
// produce and fetch, consumer groups, idempotent and transactional
// producers, topic administration and CreatePartitions.
//
//	b, err := broker.Start(ctx,
//		broker.WithAddr("127.0.0.1:9092"),
//		broker.WithDataDir(".surge/kafka"),
//	)
//	if err != nil { ... }
//	defer b.Close()
//	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
//
// # Persistence
//
// Without WithDataDir the broker keeps everything in memory. With it, the
// broker writes segments, offsets, group and producer state under the
// directory as it goes and saves the rest on Close; Start on the same
// directory continues with the same records at the same offsets. Writes go
// through the page cache and are synced on segment roll and Close, like
// Kafka's defaults; WithSyncWrites fsyncs each batch before acking it. The
// directory holds a LOCK file (flock) so two brokers never share it; the
// lock ends with the process, so a crash leaves nothing stale.
//
// # Addresses
//
// WithAddr's host part is honoured (the listener is bound by this package
// and handed to kfake, whose own option only takes a port). The broker
// advertises its listen address in metadata; when listening on a wildcard
// such as 0.0.0.0 it advertises 127.0.0.1 instead, and WithAdvertisedAddr
// sets the advertised address explicitly (e.g. a container's host name).
//
// # SASL and TLS
//
// WithSASLUser makes the broker require SASL (PLAIN, SCRAM-SHA-256 or
// SCRAM-SHA-512) and adds a user with full rights; give it once per user
// and mechanism. A client with a wrong password, an unknown user or no SASL
// at all has its connection closed during authentication. Users come from
// the options on every start: the broker deletes the SASL state kfake would
// save in the data directory (PLAIN passwords in clear) on start and on
// Close.
//
// WithTLS or WithTLSFiles make the listener TLS only; WithTLSFiles with a
// client CA file also requires client certificates signed by it (mutual
// TLS). Package brokertest creates throwaway CAs and certificates for tests.
//
//	b, err := broker.Start(ctx,
//		broker.WithSASLUser("scram-sha-256", "surge", password),
//		broker.WithTLSFiles("broker.pem", "broker-key.pem", ""),
//	)
//
// # What it is and is not
//
// It is one broker node with no replication: every partition has a single
// replica, and acks=all means "written by this node". It is meant for
// development, tests, demos and single-machine runs; production points
// --brokers at a Kafka (or Redpanda) cluster.
//
// A crash (kill -9, OOM) of the broker's process keeps every record it
// acknowledged: records are written to the data directory before the
// answer, so they survive a process crash through the page cache (tests
// kill -9 `surge broker` under acks=all production and find every
// acknowledged record after the restart). A crash of the machine or the
// operating system may lose what was not yet synced unless WithSyncWrites
// is on. Consumer-group offsets, producer ids and transaction state are
// kept in the same directory.
//
// Group offsets are not kept in a __consumer_offsets log, so tools that
// read that log (Burrow) need a real Kafka; `surge lag --metrics-addr`
// exports the same lag per group and partition for Prometheus.
//
// # Internal topic names
//
// Names starting with "__" are Kafka's own (__consumer_offsets,
// __transaction_state). A metadata request never auto-creates one: it is
// answered UNKNOWN_TOPIC_OR_PARTITION, while the request's other missing
// topics are created as usual. Without this, a librdkafka client asking
// for __consumer_offsets by name (kcat -L -t, Burrow) would leave an empty
// ordinary topic of that name behind, kept across restarts and listed by
// every tool. The broker keeps group offsets without such a log; see
// "What it is and is not". Package admin refuses to create such names.
//
// # librdkafka clients
//
// kcat 1.7 (librdkafka 2.0) works with default settings: ApiVersions
// negotiation succeeds, so no broker.version.fallback is needed. With
// api.version.request=false it still works when broker.version.fallback
// is 0.10.0 (the default) or newer, e.g. 2.8.0; fallbacks older than
// 0.10 (message format v0/v1) are refused. lz4, snappy, gzip and zstd
// batches are all accepted.
package broker
