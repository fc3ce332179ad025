package broker

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn speaks the Kafka protocol by hand on one connection, so that a
// test can leave a request waiting and close the connection under it, as
// a client killed at that moment does.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	corr int32
}

func dialRaw(t *testing.T, b *Broker) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.Addrs()[0], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, conn: c}
}

// send writes req as the next request.
func (r *rawConn) send(req kmsg.Request) {
	r.t.Helper()
	r.corr++
	buf := make([]byte, 4, 256)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(r.corr))
	buf = binary.BigEndian.AppendUint16(buf, 3)
	buf = append(buf, "raw"...)
	if req.IsFlexible() {
		buf = append(buf, 0) // no tagged fields
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	if _, err := r.conn.Write(buf); err != nil {
		r.t.Fatalf("write %T: %v", req, err)
	}
}

// roundTrip sends req and reads its response into resp.
func (r *rawConn) roundTrip(req kmsg.Request, resp kmsg.Response) {
	r.t.Helper()
	r.send(req)
	_ = r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(r.conn, size[:]); err != nil {
		r.t.Fatalf("read %T: %v", resp, err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.conn, body); err != nil {
		r.t.Fatalf("read %T: %v", resp, err)
	}
	rd := kbin.Reader{Src: body[4:]} // past the correlation id
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() {
		kmsg.SkipTags(&rd)
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		r.t.Fatalf("decode %T: %v", resp, err)
	}
}

// joinRequest is a consumer JoinGroup v5 (member ids required, instance
// ids allowed) subscribing to topic with the range protocol.
func joinRequest(group, memberID string, instanceID *string, topic string, session, rebalance time.Duration) *kmsg.JoinGroupRequest {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	p.Metadata = meta.AppendTo(nil)
	req := kmsg.NewPtrJoinGroupRequest()
	req.SetVersion(5)
	req.Group = group
	req.MemberID = memberID
	req.InstanceID = instanceID
	req.ProtocolType = "consumer"
	req.Protocols = []kmsg.JoinGroupRequestProtocol{p}
	req.SessionTimeoutMillis = int32(session.Milliseconds())
	req.RebalanceTimeoutMillis = int32(rebalance.Milliseconds())
	return req
}
