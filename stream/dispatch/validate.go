package dispatch

import (
	"github.com/surgeio/surge/schemas"
)

// InvalidRecordError is the reason an invalid record was dead-lettered
// without reaching the handler: it breaks a schema rule (the same rules the
// gateway and the sink apply). Its message, "invalid record: ..." and the
// schemas error naming the fields, is the dead letter's reason.
type InvalidRecordError struct {
	Err error // matches schemas.ErrInvalid
}

func (e *InvalidRecordError) Error() string { return "invalid record: " + e.Err.Error() }

// Unwrap returns the schemas error.
func (e *InvalidRecordError) Unwrap() error { return e.Err }

// validateRecord decodes and checks an event: the worker's step before the
// handler, so that the engine's goroutine does not pay for it.
func validateRecord(v []byte) (schemas.Record, error) {
	ev, err := schemas.Decode(v)
	if err != nil {
		return nil, &InvalidRecordError{Err: err}
	}
	return ev, nil
}

// onInvalid dead-letters a record that failed validation, at once and
// without an attempt: retrying cannot make it valid, and the handler never
// saw it. The dead letter carries the reason and the record's source
// topic, partition and offset; its key proceeds once it is written.
func (e *engine) onInvalid(t *task, err *InvalidRecordError) {
	now := e.cfg.now()
	e.m.invalid.Inc()
	x := t.extra()
	x.lastErr = err.Error()
	x.lastFailure = now
	if x.firstFailure.IsZero() {
		x.firstFailure = now
	}
	topic, partition, offset := t.source()
	e.log.Warn("invalid record; dead-lettering without calling the handler", "key", t.key(), "topic", topic,
		"partition", partition, "offset", offset, "reason", x.lastErr)
	e.deadLetter(t)
}
