package broker

import (
	"encoding/binary"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxKeptFrame bounds the size of a group request or response kept whole
// for decoding; a larger one (thousands of subscribed topics) is not
// tracked, and its member falls back to the broker's session timeout.
const maxKeptFrame = 4 << 20

// frameSplitter cuts a stream of Kafka size-prefixed frames as it passes
// through a connection, without holding it up. It looks at the first
// headLen bytes of each frame; when keep says so, it collects the whole
// frame and hands it to done, otherwise done gets only those first bytes.
type frameSplitter struct {
	headLen int
	keep    func(head []byte) bool
	done    func(frame []byte, whole bool)

	size   [4]byte
	nsize  int
	total  int    // size of the current frame
	remain int    // bytes of the current frame not seen yet
	buf    []byte // the head, or the whole frame when kept
	whole  bool
}

// feed passes the next bytes of the stream through the splitter.
func (s *frameSplitter) feed(p []byte) {
	for len(p) > 0 {
		if s.nsize < 4 {
			n := copy(s.size[s.nsize:], p)
			s.nsize += n
			p = p[n:]
			if s.nsize == 4 {
				s.total = int(int32(binary.BigEndian.Uint32(s.size[:])))
				s.remain = s.total
				s.buf, s.whole = s.buf[:0], false
				if s.remain <= 0 {
					s.nsize = 0
				}
			}
			continue
		}
		take := min(len(p), s.remain)
		chunk := p[:take]
		p, s.remain = p[take:], s.remain-take
		if s.whole {
			s.buf = append(s.buf, chunk...)
		} else if len(s.buf) < s.headLen {
			n := min(len(chunk), s.headLen-len(s.buf))
			s.buf = append(s.buf, chunk[:n]...)
			if len(s.buf) == s.headLen && s.total <= maxKeptFrame && s.keep(s.buf) {
				s.whole = true
				s.buf = append(s.buf, chunk[n:]...)
			}
		}
		if s.remain == 0 {
			s.nsize = 0
			if len(s.buf) >= s.headLen {
				s.done(s.buf, s.whole)
			}
		}
	}
}

// groupRequest is a JoinGroup or SyncGroup request read from a connection,
// whose answer the broker may hold back until the group rebalances.
type groupRequest struct {
	key        int16
	version    int16
	group      string
	memberID   string
	instanceID *string
	at         time.Time // when it was read
}

// isGroupRequestHead reports whether a request frame starting with head
// (key, version, correlation id) is a JoinGroup or a SyncGroup.
func isGroupRequestHead(head []byte) bool {
	key := int16(binary.BigEndian.Uint16(head))
	return key == int16(kmsg.JoinGroup) || key == int16(kmsg.SyncGroup)
}

// parseGroupRequest decodes a whole JoinGroup or SyncGroup request frame
// the way the broker does, returning its correlation id.
func parseGroupRequest(frame []byte) (int32, groupRequest, bool) {
	r := kbin.Reader{Src: frame}
	key, version, corr := r.Int16(), r.Int16(), r.Int32()
	r.NullableString() // client id
	req := kmsg.RequestForKey(key)
	if req == nil {
		return 0, groupRequest{}, false
	}
	req.SetVersion(version)
	if req.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if r.Complete() != nil || req.ReadFrom(r.Src) != nil {
		return 0, groupRequest{}, false
	}
	gr := groupRequest{key: key, version: version}
	switch req := req.(type) {
	case *kmsg.JoinGroupRequest:
		gr.group, gr.memberID, gr.instanceID = req.Group, req.MemberID, req.InstanceID
	case *kmsg.SyncGroupRequest:
		gr.group, gr.memberID, gr.instanceID = req.Group, req.MemberID, req.InstanceID
	default:
		return 0, groupRequest{}, false
	}
	return corr, gr, true
}
