package main

import (
	"context"
	"errors"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/schemas"
)

// Exit codes. This is the one place that maps errors to them.
const (
	exitOK          = 0
	exitError       = 1 // anything not listed below
	exitUsage       = 2 // bad flags, arguments or configuration
	exitUnavailable = 3 // a server (Kafka, ClickHouse) could not be reached or started
	exitInvalid     = 4 // invalid input data
	exitInterrupted = 130
)

// errUsage marks errors in how the command was called.
var errUsage = errors.New("usage")

// errUnavailable marks errors reaching a server.
var errUnavailable = errors.New("unavailable")

func exitCode(ctx context.Context, err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.Is(err, analytics.ErrServerNotInstalled), errors.Is(err, errUnavailable):
		return exitUnavailable
	case errors.Is(err, schemas.ErrInvalid):
		return exitInvalid
	case errors.Is(err, errNotReady):
		return exitNotReady
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return exitInterrupted
	}
	return exitError
}
