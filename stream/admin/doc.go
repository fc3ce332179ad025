// Package admin administers surge's Kafka topics: creating them from specs,
// listing and describing them. It works against any Kafka-protocol
// cluster, including the embedded broker.
//
//	a := admin.New(client)
//	results, err := a.EnsureTopics(ctx, admin.DefaultSpecs(stream.DefaultTopics(), 16, 3))
//
// EnsureTopics is safe to run on every start: it creates what is missing
// and reports what exists. It never changes an existing topic. A topic with
// fewer partitions than its spec gets a warning rather than new partitions,
// because adding partitions changes which partition a user id hashes to
// and so breaks per-user order for records already written; that change
// is an operator's deliberate step. Config and replication differences are
// reported the same way.
//
// The results and descriptions carry json tags so commands can print them
// as tables or JSON. Metadata is always read from the broker, never from
// the client's cache, so a topic created a moment ago is seen at once.
package admin
