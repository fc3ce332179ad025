// Command surge is a Kafka event-streaming pipeline for commerce peaks: intake,
// dispatch, coupon triggers and an exactly-once ClickHouse sink.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// A second signal after the first asked for a graceful stop ends the
		// process at once.
		<-ctx.Done()
		stop()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		fmt.Fprintln(os.Stderr, "surge: second signal, exiting without a clean shutdown")
		os.Exit(130)
	}()
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "surge: "+err.Error())
	}
	os.Exit(exitCode(ctx, err))
}
