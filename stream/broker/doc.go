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
// replica, acks=all means "written by this node", and while the broker is
// down (or restarting) nothing can be produced or consumed. It is meant
// for development, tests, demos and single-machine runs; production points
// --brokers at a Kafka (or Redpanda) cluster.
//
// A crash of the broker's process (kill -9, OOM, a panic) loses no record
// it acknowledged: each batch is written to its segment file before the
// answer, and the page cache outlives the process. After a restart on the
// same directory every acknowledged record is at the offset it was
// acknowledged with, and idempotent producers resume without duplicates
// (TestBrokerKill9KeepsAckedRecords kills `surge broker` four times under
// acks=all production and checks exactly that). A crash of the machine or
// its operating system can lose what the page cache had not yet written
// to disk; WithSyncWrites closes that window at the cost of an fsync per
// batch. Committed group offsets, producer ids and transaction state live
// in the same directory. Group membership is kept across a clean stop
// (members not back within their session timeout are removed); after a
// crash the members join again.
//
// Group offsets are not kept in a __consumer_offsets log, so tools that
// read that log (Burrow) need a real Kafka; `surge lag --metrics-addr`
// exports the lag per group and partition (in records and in seconds) to
// Prometheus instead.
//
// # Consumer groups
//
// Classic consumer groups (JoinGroup/SyncGroup, what surge's sink,
// dispatch and triggers use) recover from a member killed at any moment
// within its session timeout plus the time the others take to rejoin.
// kfake alone does not guarantee that around a rebalance, in two ways:
//
//   - A member whose JoinGroup or SyncGroup waits for the rebalance, and
//     whose connection closes meanwhile (the client was killed), may never
//     time out: when kfake's answer goes to the closed connection, the
//     member's session timer is never started. The group then waits for
//     it until the rebalance timeout, or, once the other members have
//     synced, keeps it with its partitions forever.
//   - A live member whose JoinGroup waits longer than its session timeout
//     (the rebalance waits for a slow or dead member) is expired by kfake
//     while it waits, and its JoinGroup is never answered; the client
//     hangs until its own request timeout ("unable to join group session:
//     i/o timeout") and joins again, from scratch.
//
// The broker fixes both without changing kfake, because it owns the
// listener: every client connection is wrapped, and the JoinGroup and
// SyncGroup requests read from it that have no answer yet are known (other
// requests are looked at only as far as their header and pass untouched;
// TLS is terminated by this package so that the wrapper sees them). When
// a connection closes with such a request waiting, the broker sends the
// LeaveGroup the dead member never will, through its own client connected
// in process (with a random SASL password when SASL is on). It only
// removes a member created by that same connection (its client host is
// the connection's address), which is the member kfake may never time
// out, and which no other connection can name. Every 500 ms it heartbeats
// for the members whose JoinGroup or SyncGroup has waited more than
// 250 ms on a connection still open, so that kfake keeps them, as Kafka
// keeps members that wait in a rebalance. A member killed while it simply
// consumes is removed by kfake at its session timeout, as in Kafka.
//
// TestGroupsRecoverFromKill9 runs three instances each of surge sink,
// dispatch and triggers against `surge broker`, kills them with SIGKILL at
// random moments (also during the rebalances the restarts cause, and the
// restarted instance itself during its join) and requires each group to
// be fully assigned to its live instances within the session timeout plus
// 5 s. Static membership (surge triggers --instance-id) is not needed for
// this; it still saves a rebalance when an instance comes back under the
// same id.
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
// Explicit CreateTopics requests from other clients are served as asked.
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
