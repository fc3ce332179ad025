package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/broker"
)

type brokerOpts struct {
	addr       string
	dataDir    string
	partitions int32
	// saslMechanisms, saslUser and saslPassword add one SASL user for each
	// mechanism; none leaves SASL off.
	saslMechanisms []string
	saslUser       string
	saslPassword   string
	// tlsCert and tlsKey turn on TLS; tlsClientCA requires client
	// certificates signed by it.
	tlsCert, tlsKey, tlsClientCA string
	metricsAddr                  string
}

func newBrokerCmd(a *app) *cobra.Command {
	var fl struct {
		brokerOpts
		saslPasswordFile string
	}
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker as a standalone server",
		Long: `Run surge's embedded Kafka-protocol broker (franz-go's kfake) as a server.

Any Kafka client can use it (kcat, the Java client, franz-go). Its data lives
under --data-dir/kafka and survives restarts. Other surge commands on the same
--data-dir find it and use it instead of starting their own broker.

With --sasl-mechanism, --sasl-user and a password (SURGE_SASL_PASSWORD,
--sasl-password or --sasl-password-file) clients must authenticate; the user
is re-created from the flags on every start and never saved to disk. With
--tls-cert and --tls-key the broker accepts only TLS connections, and with
--tls-client-ca only clients with a certificate signed by that CA. Other
surge commands then reach it with the matching --kafka-sasl-* and
--kafka-tls-* flags.`,
		Example: `  surge broker --addr 127.0.0.1:9092
  kcat -b 127.0.0.1:9092 -L
  SURGE_SASL_PASSWORD=s3cret surge broker --sasl-mechanism scram-sha-256 --sasl-user surge \
      --tls-cert broker.pem --tls-key broker-key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := secretFromFile(fl.saslPassword, fl.saslPasswordFile, "--sasl-password")
			if err != nil {
				return err
			}
			o := fl.brokerOpts
			o.dataDir, o.saslPassword = a.dataDir("kafka"), pw
			o.saslMechanisms = splitList(o.saslMechanisms)
			return runBroker(cmd.Context(), a, cmd, o)
		},
	}
	f := cmd.Flags()
	a.addDataDirFlag(f)
	f.StringVar(&fl.addr, "addr", "127.0.0.1:9092", "listen address host:port")
	f.Int32Var(&fl.partitions, "partitions", 8, "partitions of topics created automatically")
	f.StringSliceVar(&fl.saslMechanisms, "sasl-mechanism", nil, "require SASL: plain, scram-sha-256 and/or scram-sha-512 (comma-separated)")
	f.StringVar(&fl.saslUser, "sasl-user", "", "the SASL user clients authenticate as")
	f.StringVar(&fl.saslPassword, "sasl-password", "", "the SASL user's password (prefer SURGE_SASL_PASSWORD or --sasl-password-file)")
	f.StringVar(&fl.saslPasswordFile, "sasl-password-file", "", "file holding the SASL user's password")
	f.StringVar(&fl.tlsCert, "tls-cert", "", "PEM certificate of the broker: serve TLS only (with --tls-key)")
	f.StringVar(&fl.tlsKey, "tls-key", "", "PEM key of --tls-cert")
	f.StringVar(&fl.tlsClientCA, "tls-client-ca", "", "PEM CA file: require client certificates signed by it (mutual TLS)")
	f.StringVar(&fl.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics (process and Go runtime) on this address")
	return cmd
}

// securityOpts validates the SASL and TLS flags and returns their broker
// options and a description for the start-up line (never the password).
func (o brokerOpts) securityOpts() ([]broker.Opt, string, error) {
	var (
		opts []broker.Opt
		desc []string
	)
	switch {
	case len(o.saslMechanisms) == 0 && (o.saslUser != "" || o.saslPassword != ""):
		return nil, "", fmt.Errorf("%w: --sasl-user and password need --sasl-mechanism", errUsage)
	case len(o.saslMechanisms) > 0 && o.saslUser == "":
		return nil, "", fmt.Errorf("%w: --sasl-mechanism needs --sasl-user", errUsage)
	case len(o.saslMechanisms) > 0 && o.saslPassword == "":
		return nil, "", fmt.Errorf("%w: --sasl-user %q needs a password: SURGE_SASL_PASSWORD, --sasl-password or --sasl-password-file",
			errUsage, o.saslUser)
	}
	var mechs []string
	for _, m := range o.saslMechanisms {
		canon, err := stream.ParseMechanism(m)
		if err != nil {
			return nil, "", fmt.Errorf("%w: --sasl-mechanism: %v", errUsage, err)
		}
		opts = append(opts, broker.WithSASLUser(canon, o.saslUser, o.saslPassword))
		mechs = append(mechs, canon)
	}
	if len(mechs) > 0 {
		desc = append(desc, fmt.Sprintf("SASL %s as %q", strings.Join(mechs, "/"), o.saslUser))
	}
	switch {
	case o.tlsCert != "" || o.tlsKey != "":
		if o.tlsCert == "" || o.tlsKey == "" {
			return nil, "", fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
		}
		opts = append(opts, broker.WithTLSFiles(o.tlsCert, o.tlsKey, o.tlsClientCA))
		if o.tlsClientCA != "" {
			desc = append(desc, "TLS with client certificates")
		} else {
			desc = append(desc, "TLS")
		}
	case o.tlsClientCA != "":
		return nil, "", fmt.Errorf("%w: --tls-client-ca needs --tls-cert and --tls-key", errUsage)
	}
	return opts, strings.Join(desc, ", "), nil
}

func runBroker(ctx context.Context, a *app, cmd *cobra.Command, o brokerOpts) error {
	if o.partitions < 1 {
		return fmt.Errorf("%w: --partitions must be at least 1", errUsage)
	}
	secOpts, desc, err := o.securityOpts()
	if err != nil {
		return err
	}
	if addr, ok := runningBroker(o.dataDir); ok {
		return fmt.Errorf("%w: a broker is already running on %s at %s; stop it or use another --data-dir", errUsage, o.dataDir, addr)
	}
	b, stop, err := a.startEmbeddedBroker(ctx, o.dataDir, o.addr, o.partitions, secOpts...)
	if err != nil {
		return err
	}
	if desc == "" {
		desc = "plaintext, no authentication"
	}
	if err := a.serveMetrics(ctx, o.metricsAddr, newRegistry()); err != nil {
		stop()
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "surge broker listening on %s (%s; data in %s); Ctrl-C to stop\n", b.Addrs()[0], desc, o.dataDir)
	<-ctx.Done()
	a.logger.Info("stopping broker")
	stop()
	return nil
}
