package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/gateway"
	"github.com/surgeio/surge/stream/loadgen"
)

// gatewayOpts is how a gateway is run.
type gatewayOpts struct {
	addr            string
	keys            *gateway.Keys // nil with noAuth
	noAuth          bool
	noAuthAnyAddr   bool // --no-auth on a non-loopback address, accepted explicitly
	readTimeout     time.Duration
	maxBody         int64
	maxBatchBody    int64
	maxBatchItems   int
	rateLimit       float64
	rateBurst       int
	maxInFlight     int64
	produceTimeout  time.Duration
	shutdownTimeout time.Duration
	idemWindow      time.Duration
	idemMaxKeys     int
	idemTopic       string
	linger          time.Duration
	compression     string
	createTopics    bool
	partitions      int32
}

const gatewayLong = `Serve the HTTP intake: shops, apps and point-of-sale systems POST orders and
shopper events, and the gateway writes them to Kafka.

  POST /v1/orders        one order                                 scope orders:write
  POST /v1/events        one user_event or order_status            scope events:write
  POST /v1/events:batch  up to --max-batch-items events, a JSON     scope events:write
                         array or NDJSON (application/x-ndjson)
  GET  /healthz, /readyz, /metrics, /openapi.json

Scopes: an order_status record also needs orders:write (it changes an order:
paid, cancelled, a vip priority, which the payment and inventory services act
on), so a key that may only send shopper events cannot move orders; without it
the record gets 403 (in a batch, that item). Bodies may be gzipped
(Content-Encoding: gzip; the size limits apply to the decompressed body); any
other encoding gets 415. A body that has not arrived within --read-timeout
gets 408.

A 202 is sent only after Kafka acknowledged the record (acks=all, idempotent
producer); if Kafka does not within --produce-timeout the answer is 503 with
Retry-After. Orders with priority vip or urgent go to the orders-priority topic.
A retry with the same Idempotency-Key header (or, without one, the same order_id
or event_id) gets the first answer and writes nothing again, for
--idempotency-window, across restarts (results are kept in the compacted topic
--idempotency-topic). Same key, different body: 409.

API keys come from a YAML file (--keys-file, or SURGE_GATEWAY_KEYS_FILE) that
holds only their SHA-256 hashes; make one with 'surge gateway hash-key'. Without
keys the gateway refuses to start unless --no-auth is given (local demos only);
--no-auth serves only a loopback address (127.0.0.1, ::1, localhost) unless
--no-auth-any-address accepts that anyone who reaches the port may write.
Invalid input gets a 4xx naming the field; overload gets 429 (per-key
--rate-limit) or 503 (--max-inflight bytes toward Kafka) at once. On SIGINT or
SIGTERM it stops accepting, answers the requests in progress and flushes.`

func newGatewayCmd(a *app) *cobra.Command {
	gf := &gatewayFlags{}
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Serve the HTTP intake for orders and events (202 only once Kafka acked)",
		Long:  gatewayLong,
		Example: `  surge gateway hash-key --generate --name webshop --scopes orders:write,events:write
  surge gateway --keys-file keys.yaml --addr :8080
  surge gateway --no-auth          # local demo: anyone on this machine may write
  curl -sS localhost:8080/v1/orders -H 'Authorization: Bearer sk_...' \
       -H 'Content-Type: application/json' -d @order.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := a.gatewayOpts(gf)
			if err != nil {
				return err
			}
			return runGateway(cmd.Context(), a, cmd, o)
		},
	}
	addGatewayFlags(cmd, gf)
	a.addKafkaFlags(cmd.Flags())
	cmd.AddCommand(newHashKeyCmd())
	return cmd
}

// gatewayFlags are surge gateway's flags as given; gatewayOpts checks them.
type gatewayFlags struct {
	addr               string
	keysFile           string
	noAuth             bool
	noAuthAnyAddress   bool
	readTimeout        time.Duration
	maxBody            string
	maxBatchBody       string
	maxBatchItems      int
	rateLimit          float64
	rateBurst          int
	maxInflight        string
	produceTimeout     time.Duration
	shutdownTimeout    time.Duration
	idempotencyWindow  time.Duration
	idempotencyMaxKeys int
	idempotencyTopic   string
	linger             time.Duration
	compression        string
	createTopics       bool
	partitions         int32
}

func addGatewayFlags(cmd *cobra.Command, o *gatewayFlags) {
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address host:port (use :8080 to listen on every interface)")
	f.StringVar(&o.keysFile, "keys-file", "", "API keys file (YAML, SHA-256 hashes; env SURGE_GATEWAY_KEYS_FILE)")
	f.BoolVar(&o.noAuth, "no-auth", false, "serve without API keys: anyone who reaches --addr may write (local demo only; loopback addresses only)")
	f.BoolVar(&o.noAuthAnyAddress, "no-auth-any-address", false, "with --no-auth, allow a non-loopback --addr: anyone who reaches the port may write orders and events")
	f.DurationVar(&o.readTimeout, "read-timeout", gateway.DefaultReadTimeout, "how long a request's headers and body may take to arrive; a slower body gets 408")
	f.StringVar(&o.maxBody, "max-body", "1MiB", "max body of /v1/orders and /v1/events")
	f.StringVar(&o.maxBatchBody, "max-batch-body", "5MiB", "max body of /v1/events:batch")
	f.IntVar(&o.maxBatchItems, "max-batch-items", gateway.DefaultMaxBatchItems, "max events per batch")
	f.Float64Var(&o.rateLimit, "rate-limit", 0, "per-API-key records/s (0 = no limit; a key's own rate in the keys file wins)")
	f.IntVar(&o.rateBurst, "rate-burst", 0, "per-API-key burst in records (0 = max(rate, max batch items))")
	f.StringVar(&o.maxInflight, "max-inflight", "64MiB", "max bytes of records on their way to Kafka; more gets 503 at once")
	f.DurationVar(&o.produceTimeout, "produce-timeout", gateway.DefaultProduceTimeout, "how long a request waits for Kafka's ack before 503")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", gateway.DefaultShutdownTimeout, "bound on answering requests in progress and flushing at shutdown")
	f.DurationVar(&o.idempotencyWindow, "idempotency-window", gateway.DefaultIdempotencyWindow, "how long retries with the same idempotency key get the first answer")
	f.IntVar(&o.idempotencyMaxKeys, "idempotency-max-keys", gateway.DefaultIdempotencyMaxKeys, "idempotency keys held in memory (about 150 bytes each)")
	f.StringVar(&o.idempotencyTopic, "idempotency-topic", gateway.DefaultIdempotencyTopic, `compacted topic keeping idempotency results across restarts ("" = memory only)`)
	f.DurationVar(&o.linger, "linger", 0, "producer linger: how long a partition's batch waits for more records (0: send at once; under load records batch up while a request is in flight)")
	f.StringVar(&o.compression, "compression", "lz4", "Kafka compression: none, gzip, snappy, lz4, zstd")
	f.BoolVar(&o.createTopics, "create-topics", true, "create the pipeline's topics when missing (idempotent)")
	f.Int32Var(&o.partitions, "partitions", 8, "partitions per topic when creating them")
}

// gatewayOpts checks the gateway flags and returns how to run it.
func (a *app) gatewayOpts(gf *gatewayFlags) (gatewayOpts, error) {
	o := gatewayOpts{
		addr:            gf.addr,
		noAuth:          gf.noAuth,
		noAuthAnyAddr:   gf.noAuthAnyAddress,
		readTimeout:     gf.readTimeout,
		maxBatchItems:   gf.maxBatchItems,
		rateLimit:       gf.rateLimit,
		rateBurst:       gf.rateBurst,
		produceTimeout:  gf.produceTimeout,
		shutdownTimeout: gf.shutdownTimeout,
		idemWindow:      gf.idempotencyWindow,
		idemMaxKeys:     gf.idempotencyMaxKeys,
		idemTopic:       gf.idempotencyTopic,
		linger:          gf.linger,
		compression:     gf.compression,
		createTopics:    gf.createTopics,
		partitions:      gf.partitions,
	}
	var err error
	for _, s := range []struct {
		flag, value string
		dst         *int64
	}{{"max-body", gf.maxBody, &o.maxBody}, {"max-batch-body", gf.maxBatchBody, &o.maxBatchBody}, {"max-inflight", gf.maxInflight, &o.maxInFlight}} {
		if *s.dst, err = parseSize(s.value); err != nil {
			return o, fmt.Errorf("%w: --%s: %v", errUsage, s.flag, err)
		}
	}
	if o.partitions < 1 {
		return o, fmt.Errorf("%w: --partitions must be at least 1", errUsage)
	}
	if o.readTimeout <= 0 {
		return o, fmt.Errorf("%w: --read-timeout must be positive", errUsage)
	}
	if o.noAuthAnyAddr && !o.noAuth {
		return o, fmt.Errorf("%w: --no-auth-any-address only goes with --no-auth", errUsage)
	}
	if o.noAuth && !o.noAuthAnyAddr && !loopbackAddr(o.addr) {
		return o, fmt.Errorf("%w: --no-auth with --addr %s would let anyone who reaches this port write orders and events: "+
			"listen on a loopback address (--addr 127.0.0.1:8080), use API keys (--keys-file), "+
			"or add --no-auth-any-address to accept the risk", errUsage, o.addr)
	}
	keysFile := gf.keysFile
	if keysFile == "" {
		if keysFile, err = a.keysFile(); err != nil {
			return o, err
		}
	}
	switch {
	case keysFile != "" && o.noAuth:
		return o, fmt.Errorf("%w: --keys-file and --no-auth cannot be combined", errUsage)
	case keysFile != "":
		if o.keys, err = gateway.LoadKeys(keysFile); err != nil {
			return o, fmt.Errorf("%w: %v", errUsage, err)
		}
	case !o.noAuth:
		return o, fmt.Errorf("%w: no API keys: pass --keys-file (or set SURGE_GATEWAY_KEYS_FILE), or --no-auth for a local demo", errUsage)
	}
	return o, nil
}

// loopbackAddr reports whether a listen address host:port is on loopback
// only: a loopback IP or "localhost". An empty host (":8080"), 0.0.0.0, ::
// and every other name or address are not.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// keysFile is --keys-file, else SURGE_GATEWAY_KEYS_FILE (or SURGE_KEYS_FILE,
// or keys-file in the config file).
func (a *app) keysFile() (string, error) {
	if err := a.v.BindEnv("keys-file", "SURGE_GATEWAY_KEYS_FILE", "SURGE_KEYS_FILE"); err != nil {
		return "", fmt.Errorf("%w: %v", errUsage, err)
	}
	return a.v.GetString("keys-file"), nil
}

// parseSize reads a byte size: a number with an optional unit B, K/KB/KiB,
// M/MB/MiB or G/GB/GiB (all powers of 1024).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number with an optional unit such as 512KiB or 1MiB", s)
	}
	mult := map[string]float64{"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit %q; want B, KiB, MiB or GiB", s, unit)
	}
	return int64(f * mult), nil
}

func runGateway(ctx context.Context, a *app, cmd *cobra.Command, o gatewayOpts) error {
	kc, releaseKafka, err := a.kafka(ctx)
	if err != nil {
		return err
	}
	defer releaseKafka()
	addr, stop, err := runGatewayServer(ctx, a, kc, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "surge gateway listening on http://%s (Kafka %v); Ctrl-C to stop\n", addr, kc.Brokers)
	<-ctx.Done()
	a.logger.Info("gateway: shutting down")
	if err := stop(); err != nil {
		return err
	}
	a.logger.Info("gateway: stopped cleanly")
	return nil
}

// runGatewayServer starts a gateway over kc on o.addr, serving in the
// background until stop is called; stop shuts it down gracefully (answer
// requests in progress, flush, close the producer) and returns the
// shutdown's error. It is what `surge gateway` and `surge up --via-gateway`
// run.
func runGatewayServer(ctx context.Context, a *app, kc stream.ClientConfig, o gatewayOpts) (addr string, stop func() error, err error) {
	topics := stream.DefaultTopics()
	if o.createTopics {
		if err := ensureTopics(ctx, kc, topics, o.partitions); err != nil {
			a.logger.Warn("gateway: could not create topics; /readyz reports what is missing", "err", err)
		}
	}
	reg := newRegistry()
	kc.ExtraOpts = append(kc.ExtraOpts, kafkaMetrics(reg))
	popts := []stream.ProducerOpt{
		stream.WithBrokers(kc.Brokers...),
		stream.WithSecurity(kc.Security),
		stream.WithTopics(topics),
		stream.WithClientID("surge-gateway"),
		stream.WithLinger(o.linger),
		stream.WithCompression(o.compression),
		stream.WithLogger(a.logger),
	}
	if len(kc.ExtraOpts) > 0 {
		popts = append(popts, stream.WithClientOpts(kc.ExtraOpts...))
	}
	p, err := stream.NewProducer(popts...)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	a.joinResizes(ctx, p)
	gopts := []gateway.Opt{
		gateway.WithProducer(p),
		gateway.WithLogger(a.logger),
		gateway.WithMaxBodyBytes(o.maxBody),
		gateway.WithMaxBatchBytes(o.maxBatchBody),
		gateway.WithMaxBatchItems(o.maxBatchItems),
		gateway.WithMaxInFlightBytes(o.maxInFlight),
		gateway.WithRateLimit(o.rateLimit, o.rateBurst),
		gateway.WithProduceTimeout(o.produceTimeout),
		gateway.WithShutdownTimeout(o.shutdownTimeout),
		gateway.WithIdempotencyWindow(o.idemWindow),
		gateway.WithIdempotencyMaxKeys(o.idemMaxKeys),
		gateway.WithIdempotencyTopic(o.idemTopic, o.partitions, -1),
		gateway.WithRegistry(reg),
	}
	if o.readTimeout > 0 {
		gopts = append(gopts, gateway.WithReadTimeout(o.readTimeout))
	}
	if o.noAuth {
		gopts = append(gopts, gateway.WithoutAuth())
	} else {
		gopts = append(gopts, gateway.WithKeys(o.keys))
	}
	g, err := gateway.New(ctx, gopts...)
	if err != nil {
		p.Close()
		if errors.Is(err, gateway.ErrNoAuth) {
			return "", nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		return "", nil, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		_ = g.Drain(ctx)
		p.Close()
		return "", nil, fmt.Errorf("%w: --addr %s: %v", errUsage, o.addr, err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- g.Serve(sctx, ln) }() // ended by stop
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			stopErr = <-served
			p.Close()
		})
		return stopErr
	}
	a.logger.Info("gateway serving", "addr", "http://"+ln.Addr().String(), "auth", !o.noAuth,
		"idempotency_topic", o.idemTopic, "produce_timeout", o.produceTimeout)
	return ln.Addr().String(), stop, nil
}

func newHashKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hash-key",
		Short: "Print the keys-file entry (SHA-256 hash) for an API key",
		Long: `Print the keys-file entry for an API key: its name, the SHA-256 of the secret
and its scopes. The secret is read from the first line of standard input, or made
up with --generate (then printed once, on standard error). The keys file keeps
only the hash: give the secret to the client, never store it next to the file.

The entry is YAML for the list under "keys:", so it can be appended to the file.`,
		Example: `  surge gateway hash-key --generate --name webshop >> keys.yaml
  printf '%s\n' "$SHOP_KEY" | surge gateway hash-key --name webshop --scopes events:write`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			name, _ := f.GetString("name")
			scopes, _ := f.GetStringSlice("scopes")
			generate, _ := f.GetBool("generate")
			return runHashKey(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), name, scopes, generate)
		},
	}
	cmd.Flags().String("name", "client", "the key's name (letters, digits, '.', '_', '-')")
	cmd.Flags().StringSlice("scopes", []string{string(gateway.ScopeOrdersWrite), string(gateway.ScopeEventsWrite)}, "what the key may write")
	cmd.Flags().Bool("generate", false, "make up a new random key instead of reading one")
	return cmd
}

func runHashKey(in io.Reader, out, errw io.Writer, name string, scopes []string, generate bool) error {
	var secret string
	if generate {
		var err error
		if secret, err = gateway.GenerateKey(); err != nil {
			return err
		}
	} else {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the API key from standard input: %w", err)
		}
		if secret = strings.TrimSpace(line); secret == "" {
			return fmt.Errorf("%w: no API key on standard input (or use --generate)", errUsage)
		}
		if len(secret) < 16 {
			return fmt.Errorf("%w: the API key is %d characters; use at least 16 (--generate makes 46)", errUsage, len(secret))
		}
	}
	k := gateway.Key{Name: name, SHA256: gateway.HashKey(secret)}
	for _, s := range scopes {
		k.Scopes = append(k.Scopes, gateway.Scope(s))
	}
	if _, err := gateway.NewKeys(k); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if generate {
		fmt.Fprintf(errw, "new API key for %s (shown once; give it to the client, keep only the hash): %s\n", name, secret)
	}
	fmt.Fprintf(out, "  - name: %s\n    sha256: %s\n    scopes: [%s]\n", k.Name, k.SHA256, strings.Join(scopes, ", "))
	return nil
}

// addUpGatewayFlags adds the flags with which `surge up` sends its traffic
// through an in-process gateway over HTTP.
func addUpGatewayFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Bool("via-gateway", false, "send the generated traffic through an in-process HTTP gateway instead of producing directly")
	f.String("gateway-addr", "127.0.0.1:0", "listen address of the gateway with --via-gateway (port 0 picks a free one)")
}

// generateViaGateway is generate with the records going through HTTP: it
// serves a gateway over kc with a demo API key made for this run, drives
// the load generator through an HTTP sender, and stops the gateway (which
// flushes). Its signature is generate's, so `surge up` can pick either.
func generateViaGateway(ctx context.Context, a *app, kc stream.ClientConfig, cfg loadgen.Config, compression string, progress bool, w io.Writer) (*loadgen.Stats, error) {
	secret, err := gateway.GenerateKey()
	if err != nil {
		return nil, err
	}
	demo := gateway.Key{Name: "surge-up", SHA256: gateway.HashKey(secret),
		Scopes: []gateway.Scope{gateway.ScopeOrdersWrite, gateway.ScopeEventsWrite}}
	var fileKeys *gateway.Keys
	if file, err := a.keysFile(); err != nil {
		return nil, err
	} else if file != "" {
		if fileKeys, err = gateway.LoadKeys(file); err != nil {
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	keys, err := fileKeys.With(demo)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	o := gatewayOpts{
		addr: a.v.GetString("gateway-addr"), keys: keys,
		maxBody: gateway.DefaultMaxBodyBytes, maxBatchBody: gateway.DefaultMaxBatchBytes,
		maxBatchItems: gateway.DefaultMaxBatchItems, maxInFlight: gateway.DefaultMaxInFlightBytes,
		produceTimeout: gateway.DefaultProduceTimeout, shutdownTimeout: gateway.DefaultShutdownTimeout,
		idemWindow: gateway.DefaultIdempotencyWindow, idemMaxKeys: gateway.DefaultIdempotencyMaxKeys,
		idemTopic: gateway.DefaultIdempotencyTopic, compression: compression,
		createTopics: true, partitions: 8,
	}
	addr, stop, err := runGatewayServer(ctx, a, kc, o)
	if err != nil {
		return nil, err
	}
	a.logger.Info("generating through the gateway", "url", "http://"+addr, "demo_api_key", secret)
	s, err := gateway.NewHTTPSender("http://"+addr, secret, gateway.WithSenderLogger(a.logger))
	if err != nil {
		_ = stop()
		return nil, err
	}
	var bar *progressBar
	if progress {
		bar = newProgressBar(w, cfg.Duration, "producing via gateway")
		cfg.OnProgress = bar.update
	}
	g, err := loadgen.New(cfg, func(ctx context.Context, r schemas.Record, done func(error)) { s.Send(ctx, r, done) })
	if err != nil {
		s.Close()
		_ = stop()
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	stats, err := g.Run(ctx)
	if bar != nil {
		bar.finish()
	}
	s.Close()
	if serr := stop(); serr != nil {
		return stats, fmt.Errorf("stop gateway: %w", serr)
	}
	if err != nil && ctx.Err() == nil {
		return stats, err
	}
	return stats, nil
}
