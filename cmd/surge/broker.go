package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

type brokerOpts struct {
	addr       string
	dataDir    string
	partitions int32
}

func newBrokerCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker as a standalone server",
		Long: `Run surge's embedded Kafka-protocol broker (franz-go's kfake) as a server.

Any Kafka client can use it (kcat, the Java client, franz-go). Its data lives
under --data-dir/kafka and survives restarts. Other surge commands on the same
--data-dir find it and use it instead of starting their own broker.`,
		Example: `  surge broker --addr 127.0.0.1:9092
  kcat -b 127.0.0.1:9092 -L`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := brokerOpts{
				addr:       a.v.GetString("addr"),
				dataDir:    a.dataDir("kafka"),
				partitions: a.v.GetInt32("partitions"),
			}
			return runBroker(cmd.Context(), a, cmd, o)
		},
	}
	cmd.Flags().String("addr", "127.0.0.1:9092", "listen address host:port")
	cmd.Flags().Int32("partitions", 8, "partitions of topics created automatically")
	return cmd
}

func runBroker(ctx context.Context, a *app, cmd *cobra.Command, o brokerOpts) error {
	if o.partitions < 1 {
		return fmt.Errorf("%w: --partitions must be at least 1", errUsage)
	}
	if addr, ok := runningBroker(o.dataDir); ok {
		return fmt.Errorf("%w: a broker is already running on %s at %s; stop it or use another --data-dir", errUsage, o.dataDir, addr)
	}
	b, stop, err := a.startEmbeddedBroker(ctx, o.dataDir, o.addr, o.partitions)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "surge broker listening on %s (data in %s); Ctrl-C to stop\n", b.Addrs()[0], o.dataDir)
	<-ctx.Done()
	a.logger.Info("stopping broker")
	stop()
	return nil
}
