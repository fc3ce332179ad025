package analytics

import (
	"bytes"
	bin "encoding/binary"
	"fmt"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// maxNativeScratch is the largest encoding buffer fillNative keeps for the
// next INSERT: 200k rows of the widest usual column fit.
const maxNativeScratch = 16 << 20

// fillNative puts v into col by decoding it from ClickHouse's native
// encoding, built in *scratch, when col's type is one it encodes (String,
// UInt8, Int32, UInt32, Int64, UInt64, DateTime) and v is the matching
// slice; it reports whether it did. clickhouse-go's Append grows a column
// one value at a time: a String column of 200k short values allocates
// about six times its data (its bytes and a 16-byte position per value,
// doubled, then grown by a quarter, each growth a fresh copy), and a
// numeric one about five times. Decoding sizes each column once, at a
// third of the time for strings (go test -bench Native ./analytics).
func fillNative(col column.Interface, v any, scratch *[]byte) (bool, error) {
	buf := (*scratch)[:0]
	var n int
	switch typ := col.Type(); {
	case typ == "String":
		s, ok := v.([]string)
		if !ok {
			return false, nil
		}
		for _, x := range s {
			buf = bin.AppendUvarint(buf, uint64(len(x)))
			buf = append(buf, x...)
		}
		n = len(s)
	case typ == "UInt8":
		s, ok := v.([]uint8)
		if !ok {
			return false, nil
		}
		buf, n = append(buf, s...), len(s)
	case typ == "Int32":
		s, ok := v.([]int32)
		if !ok {
			return false, nil
		}
		for _, x := range s {
			buf = bin.LittleEndian.AppendUint32(buf, uint32(x))
		}
		n = len(s)
	case typ == "UInt32":
		s, ok := v.([]uint32)
		if !ok {
			return false, nil
		}
		for _, x := range s {
			buf = bin.LittleEndian.AppendUint32(buf, x)
		}
		n = len(s)
	case typ == "Int64":
		s, ok := v.([]int64)
		if !ok {
			return false, nil
		}
		for _, x := range s {
			buf = bin.LittleEndian.AppendUint64(buf, uint64(x))
		}
		n = len(s)
	case typ == "UInt64":
		s, ok := v.([]uint64)
		if !ok {
			return false, nil
		}
		for _, x := range s {
			buf = bin.LittleEndian.AppendUint64(buf, x)
		}
		n = len(s)
	case typ == "DateTime":
		s, ok := v.([]time.Time)
		if !ok {
			return false, nil
		}
		for _, x := range s {
			buf = bin.LittleEndian.AppendUint32(buf, uint32(proto.ToDateTime(x))) // as Append stores it
		}
		n = len(s)
	default:
		return false, nil
	}
	*scratch = buf
	if cap(buf) > maxNativeScratch {
		*scratch = nil // a column of large values (rejects' raw bytes): not kept
	}
	if err := col.Decode(proto.NewReader(bytes.NewReader(buf)), n); err != nil {
		return true, fmt.Errorf("column %s (%s): %w", col.Name(), col.Type(), err)
	}
	return true, nil
}
