package broker

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// frame encodes req as a request frame with correlation id corr.
func frame(req kmsg.Request, corr int32) []byte {
	buf := make([]byte, 4)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(corr))
	buf = binary.BigEndian.AppendUint16(buf, 0xffff) // null client id
	if req.IsFlexible() {
		buf = append(buf, 0)
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	return buf
}

// TestFrameSplitterFindsGroupRequests feeds a stream of requests through
// the splitter in chunks of every size, from one byte up, and checks that
// it finds exactly the JoinGroup and SyncGroup requests, decoded.
func TestFrameSplitterFindsGroupRequests(t *testing.T) {
	join := joinRequest("g", "m-1", kmsg.StringPtr("i-1"), "t", 6*time.Second, 10*time.Second)
	flexJoin := joinRequest("g2", "", nil, "t", 6*time.Second, 10*time.Second)
	flexJoin.SetVersion(9)
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.SetVersion(5)
	sync.Group, sync.MemberID, sync.Generation = "g", "m-2", 3
	produce := kmsg.NewPtrProduceRequest()
	produce.SetVersion(9)
	produce.Acks = -1
	produce.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: make([]byte, 5000)}}}}
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(12)

	var stream []byte
	for i, r := range []kmsg.Request{meta, join, produce, sync, produce, flexJoin, meta} {
		stream = append(stream, frame(r, int32(i+1))...)
	}
	want := []string{"2 11 g m-1 i-1", "4 14 g m-2 -", "6 11 g2  -"}

	rng := rand.New(rand.NewPCG(1, 2))
	for _, chunk := range []int{1, 2, 3, 7, 100, 4096, 0} {
		var got []string
		s := frameSplitter{headLen: 8, keep: isGroupRequestHead, done: func(f []byte, whole bool) {
			if !whole {
				return
			}
			corr, gr, ok := parseGroupRequest(f)
			if !ok {
				t.Fatalf("chunk %d: a kept frame did not decode", chunk)
			}
			inst := "-"
			if gr.instanceID != nil {
				inst = *gr.instanceID
			}
			got = append(got, fmt.Sprintf("%d %d %s %s %s", corr, gr.key, gr.group, gr.memberID, inst))
		}}
		for p := stream; len(p) > 0; {
			n := chunk
			if n == 0 { // random sizes
				n = 1 + rng.IntN(600)
			}
			n = min(n, len(p))
			s.feed(p[:n])
			p = p[n:]
		}
		if !slices.Equal(got, want) {
			t.Errorf("chunk %d: got %q, want %q", chunk, got, want)
		}
	}
}
