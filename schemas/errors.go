package schemas

import (
	"errors"
	"strconv"
	"strings"
)

// MaxRecordBytes is the largest encoded record surge accepts. Decode rejects a
// larger input with ErrTooLarge before parsing it, and Encode refuses to
// produce one.
const MaxRecordBytes = 256 << 10

// ErrInvalid is wrapped by every error that reports a bad record: malformed
// JSON, a missing or wrongly typed field, a rule a value breaks, or a record
// over MaxRecordBytes. Test for it with errors.Is; use errors.As with
// *ValidationError to get the individual problems.
var ErrInvalid = errors.New("invalid record")

// ErrTooLarge reports a record larger than MaxRecordBytes. An error that
// matches it matches ErrInvalid too.
var ErrTooLarge = errors.New("record too large")

// maxReported bounds the problems one ValidationError lists; the rest are
// counted in a final entry so that a hostile record cannot produce a huge
// error message.
const maxReported = 32

// FieldError is one problem with one field of a record.
type FieldError struct {
	// Field is the JSON path of the field, such as "currency" or
	// "items[2].qty". It is empty for a problem with the record as a whole,
	// such as malformed JSON.
	Field string
	// Problem says what is wrong, in lowercase: "missing",
	// "must be greater than zero", ...
	Problem string
}

// Error returns "field: problem", or just the problem when Field is empty.
func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Field + ": " + e.Problem
}

// ValidationError lists every problem found in one record. It matches
// ErrInvalid with errors.Is.
type ValidationError struct {
	// Kind is the kind of the record, or empty when it could not be told.
	Kind Kind
	// Errors holds the problems in field order; never empty.
	Errors []FieldError
}

// Error joins the problems: `invalid order: amount: must not be negative;
// currency: "XXX" is not an ISO-4217 currency`.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid ")
	if e.Kind == "" {
		b.WriteString("record")
	} else {
		b.WriteString(string(e.Kind))
	}
	for i, fe := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(fe.Error())
	}
	return b.String()
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Is reports whether target is ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// tooLargeError is the error for a record over MaxRecordBytes. It matches both
// ErrTooLarge and ErrInvalid.
type tooLargeError struct{ size int }

func (e *tooLargeError) Error() string {
	return "record too large: " + strconv.Itoa(e.size) + " bytes, limit " +
		strconv.Itoa(MaxRecordBytes)
}

func (e *tooLargeError) Is(target error) bool {
	return target == ErrTooLarge || target == ErrInvalid
}

// collector gathers the problems of one record, keeping the first
// maxReported of them.
type collector struct {
	errs    []FieldError
	dropped int
	// cleanIDs: the record's strings come from the canonical scanner
	// (see validateAt).
	cleanIDs bool
}

// idProblem is idProblem(s, required), known to be "" for clean strings
// (a missing optional one is "", a required one is never missing).
func (c *collector) idProblem(s string, required bool) string {
	if c.cleanIDs {
		return ""
	}
	return idProblem(s, required)
}

func (c *collector) add(field, problem string) {
	if len(c.errs) >= maxReported {
		c.dropped++
		return
	}
	c.errs = append(c.errs, FieldError{Field: field, Problem: problem})
}

// addItem adds a problem with field sub of items[i].
func (c *collector) addItem(i int, sub, problem string) {
	if len(c.errs) >= maxReported {
		c.dropped++
		return
	}
	c.add(itemPath(i, sub), problem)
}

func itemPath(i int, sub string) string {
	p := "items[" + strconv.Itoa(i) + "]"
	if sub != "" {
		p += "." + sub
	}
	return p
}

// err returns the collected problems as a *ValidationError, or nil.
func (c *collector) err(k Kind) error {
	if len(c.errs) == 0 {
		return nil
	}
	errs := c.errs
	if c.dropped > 0 {
		errs = append(errs, FieldError{Problem: "and " + strconv.Itoa(c.dropped) + " more problems"})
	}
	return &ValidationError{Kind: k, Errors: errs}
}

// invalid returns a *ValidationError with a single problem.
func invalid(k Kind, field, problem string) error {
	return &ValidationError{Kind: k, Errors: []FieldError{{Field: field, Problem: problem}}}
}
