package control

import "slices"

// Why a record's key or partition does not match what surge's producers
// write (CheckKey's results). surge keys every record by its user_id and
// partitions by murmur2 of the key (KeyPartition), like the Java client
// and franz-go; librdkafka clients (kcat, confluent-kafka) partition with
// CRC32 unless set to partitioner=murmur2_random.
const (
	MismatchNoKey     = "no_key"          // the record has no key
	MismatchKey       = "key_not_user_id" // the key is not the record's user_id
	MismatchPartition = "partition"       // murmur2 puts the key on another partition
)

// CheckKey returns why a record with key, of user userID, does not belong
// on partition, or "" when it does. counts are the partition counts its
// topic had (ascending; see Counts): a resize moves a key from p only to
// p+k*old, so the record belongs on partition when murmur2 puts its key
// there under one of them. With no counts only the key is checked.
func CheckKey(key []byte, userID string, partition int32, counts []int32) string {
	return CheckKeyHashed(key, userID, Murmur2(userID), partition, counts)
}

// CheckKeyHashed is CheckKey for a caller that has userHash, the Murmur2 of
// userID, at hand.
func CheckKeyHashed(key []byte, userID string, userHash uint32, partition int32, counts []int32) string {
	switch {
	case len(key) == 0:
		return MismatchNoKey
	case string(key) != userID:
		return MismatchKey
	}
	if len(counts) == 0 {
		return ""
	}
	for _, c := range counts {
		if partition < c && PartitionOf(userHash, c) == partition {
			return ""
		}
	}
	return MismatchPartition
}

// Counts returns the partition counts topic had according to the state:
// its count before the first recorded resize and every count a resize of
// it went from or to, up to current, ascending, current included. topicID,
// when not empty, must match the resizes'.
func (s *State) Counts(topic, topicID string, current int32) []int32 {
	out := []int32{current}
	if s == nil {
		return out
	}
	for _, r := range s.Resizes {
		if r.Topic != topic || (topicID != "" && r.TopicID != "" && r.TopicID != topicID) || r.Old <= 0 || r.New > current {
			continue
		}
		out = append(out, r.Old, r.New)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
