package triggers

import (
	"time"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// eventDecoder turns input records into engine events with a
// schemas.Reader: the same checks and outcome as schemas.Decode, without
// allocating for records in canonical form (nearly all of them).
//
// The strings of a decoded event may alias the record's bytes and its
// Items the reader's: they are valid only until the next decode. The rules
// engine copies what it keeps.
type eventDecoder struct {
	r schemas.Reader
}

// setNow fixes the time the "not too far in the future" check measures
// from, for a batch of records.
func (d *eventDecoder) setNow(ms int64) { d.r.SetNow(time.UnixMilli(ms)) }

// decode fills ev from a record's value. ok is false for a record that is
// not an engine event (an order status "created", a coupon); err is set for
// one that does not validate.
func (d *eventDecoder) decode(v []byte, ev *rules.Event) (ok bool, err error) {
	rec, err := d.r.Read(v)
	if err != nil {
		return false, err
	}
	*ev, ok = rules.FromRecord(rec)
	return ok, nil
}
