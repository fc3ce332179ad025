// Package control is surge's control topic and the order-safe partition
// resize built on it (surge topics resize).
//
// # The control topic
//
// "surge-control" (DefaultTopic): one partition, compacted, created on
// demand by the first participant. Its records are JSON (Record), keyed so
// that compaction keeps what readers need:
//
//   - producer heartbeats (producer id, client, topics) every 3s, and a
//     closing one when a producer stops;
//   - group registrations: every surge consumer group (dispatch, triggers,
//     sink) writes its name, component and topics when it starts. This is
//     how a resize tells surge's groups from others: a group that consumes
//     the topic and never registered is warned about (it will not hold new
//     partitions). Names alone would not do: dispatch groups are named
//     after services;
//   - per resize: begin (id, topic, topic id, old and new count, whether
//     order-safe; written BEFORE CreatePartitions), created, one switched
//     ack per producer, and the barrier.
//
// # The protocol
//
// A resize grows topic T from O to N = k*O partitions (CheckResize refuses
// shrinking, equal counts and, without allowReorder, a count that is not a
// multiple). surge's producers hash keys with murmur2 mod the partition
// count (kgo.StickyKeyPartitioner(nil)), so a key on new partition p >= O
// came from its parent p mod O, and keys on partitions below O stay.
//
//  1. The resizer writes begin, then CreatePartitions, then created.
//  2. Each live producer (stream.Producer) switches: it refreshes its
//     client's metadata until the client's cached partitions of T number
//     N (a metadata update never shrinks them, and kgo partitions each
//     record with the cached partitions it loads at Produce), bumps its
//     switch epoch, waits until every record handed to its client in the
//     old epoch is acked, and writes switched. A producer that starts
//     during a resize reads the topic to its end before NewProducer
//     returns and switches too.
//  3. When every live producer (heartbeat within LiveWindow, not closed)
//     switched, or after the switch timeout, the resizer lists the end
//     offsets of partitions 0..O-1 and writes them as the barrier B.
//  4. A consumer group member's Gate, on assignment (before kgo fetches),
//     pauses each new partition p and resumes it once the group's
//     committed offset on p mod O (or that partition's log start offset,
//     when records below it were deleted) is at least B[p mod O] (dispatch also
//     waits for the parent's retry partition to be committed up to the end
//     it had at that moment, since parked records are done only there).
//     Gates refresh the member's metadata when a resize begins and when
//     its partitions are created: the group takes them on within a second.
//
// # The guarantee
//
// For a key K that moves to p, every record of K in p mod O was partitioned
// with O partitions, hence counted in some producer's old epoch, hence
// acked before that producer's ack, hence below B; records of K produced
// after a producer's switch go to p. A surge group consumes p only after it
// committed p mod O up to B, and it commits an offset only when the work
// for every record below it is done. So each of K's records in p starts
// after all of K's records in p mod O are done: per-key order holds for
// surge's consumers, across producers too (a record produced after
// another one was acked lands after it). Chains (8 -> 16 -> 32): a
// partition new in the second resize waits for its parent past the second
// barrier and, when a resize created that parent too, for the parent's
// parent past the first barrier, and so on: a parent that was still empty
// at the second barrier says nothing about its own parent. A resize left
// incomplete under a later one is completed by running it again (surge
// topics resize T --partitions <its count>), which the gate's warning and
// the later resize's plan name.
//
// # Limits
//
//   - Producers that do not take part (other clients, a stream.Producer
//     whose owner did not call JoinResizes, a shared client whose
//     partitioner is not murmur2 by key) are not waited for: their records partitioned with
//     the old count after the barrier can be consumed out of order.
//   - The switch timeout: a live producer that does not ack in time is
//     named in a warning and in the barrier record (Missing); its records
//     written with the old count after the barrier are not held back. A
//     producer that stops heartbeating during the wait without acking or
//     closing is not waited for past LiveWindow, and is named there too.
//   - A producer whose first record to T is written during the resize and
//     loads T's metadata from a broker that has not yet learnt of the new
//     partitions can still use the old count; kfake and KRaft propagate
//     within milliseconds.
//   - Clocks: liveness compares heartbeat times (the producer's clock) with
//     the resizer's; skew beyond LiveWindow/3 misjudges liveness.
//   - Non-surge consumer groups do not hold: the resize warns about them.
//   - A gate that cannot read the control topic to its end on an
//     assignment holds by what it read so far: a resize begun since is
//     not held for (logged as an error).
//   - Topics written in transactions (coupons): the barrier is an end
//     offset, which is a commit marker's. The sink reads markers
//     (kgo.KeepControlRecords) and commits past them, so it passes the
//     barrier as soon as it has written the parent's records; a group that
//     commits only up to its last data record would wait for the next
//     record written to the parent.
//   - Triggers keep per-partition state: a user whose key moved starts with
//     fresh rule state (windows, caps, first-time flags) on its new
//     partition, while its old state stays with the parent until evicted,
//     and budget shares stay split over the count before the inputs' first
//     resize: a partition a resize added gets no share, so a budget is
//     never spent twice, and its shoppers get no budgeted coupons (see
//     triggers' --budget-partitions). The Runner grows its changelog to
//     match. Resize all three triggers
//     inputs together: the Runner refuses to start on inputs with
//     different counts.
//
// # Crash mid-resize
//
// The resize id is derived from topic, topic id and counts, so running the
// same resize again completes it: it skips the begin record and the
// CreatePartitions already done, waits for the switches and writes the
// barrier. Until then consumers hold the new partitions and log a warning
// every 30s naming the command to run. Producers switch as soon as they
// see the begin (and retry until the partitions exist), so an interrupted
// resize leaves them consistent. A producer that crashes mid-switch is not
// live after LiveWindow and is not waited for; its records are below the
// barrier unless a produce request of it was still on the wire when the
// barrier was taken.
package control
