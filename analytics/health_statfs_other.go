//go:build !unix

package analytics

import "errors"

// statfs is not implemented here: Health then reports the disk as not
// measured.
func statfs(string) (free, total uint64, err error) {
	return 0, 0, errors.New("not supported on this platform")
}
