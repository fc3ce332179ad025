//go:build !unix

package broker

// lockDir is a no-op where flock is unavailable: the caller must make sure
// only one broker uses a data directory.
func lockDir(string) (func(), error) { return func() {}, nil }
