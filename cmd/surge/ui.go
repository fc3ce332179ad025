package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/analytics/web"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/gateway"
	"github.com/surgeio/surge/stream/health"
	"github.com/surgeio/surge/stream/sink"
)

const uiLong = `Serve the live campaign page: per campaign the orders, GMV, buyers, average
order value and coupons (the numbers of surge report campaign-summary), GMV
and orders per minute, the funnel, the coupons issued per rule against their
budgets, and the pipeline's health (events/s in, sink freshness, consumer
group lag and status, dead letters), updated every --interval over
Server-Sent Events. A campaign and time range are picked on the page and kept
in its URL. Money is shown in major units of each currency.

The page's JSON API, under /api/reports/NAME?campaign=&from=&to=, answers
exactly what surge report NAME --output json prints, for the reports that
read the per-minute rollups.

The page is read-only and by default answers on 127.0.0.1 only. To serve it
on another address, give the gateway's API keys file (--keys-file) with a
key holding the reports:read scope; browsers send the key as the password of
HTTP Basic authentication, scripts as Authorization: Bearer KEY.

Pipeline health needs Kafka: --brokers, or a running surge broker on
--data-dir; without one the page shows the reports only.`

// uiOptions are the parsed flags of surge ui.
type uiOptions struct {
	addr     string
	keysFile string
	rules    string
	interval time.Duration
}

func newUICmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve the live campaign page and its JSON API (read-only)",
		Long:  uiLong,
		Example: `  surge ui                                   # http://127.0.0.1:8070
  surge ui --brokers kafka-1:9092 --clickhouse ch-1:9000
  surge ui --addr :8070 --keys-file keys.yaml  # on every interface, with reports:read keys
  curl -s '127.0.0.1:8070/api/reports/campaign-summary?campaign=black-friday&from=3h'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := a.uiOptions()
			if err != nil {
				return err
			}
			return runUI(cmd.Context(), a, cmd, o)
		},
	}
	f := cmd.Flags()
	a.addClickHouseFlags(f)
	a.addKafkaFlags(f)
	f.String("addr", "127.0.0.1:8070", "listen address; another than loopback needs --keys-file")
	f.String("keys-file", "", "API keys file of the gateway (keys with scope reports:read may read the page; env SURGE_GATEWAY_KEYS_FILE)")
	f.String("rules", "", "rules file whose budgets the page shows; empty uses the built-in sample holiday rules")
	f.Duration("interval", time.Second, "how often open pages get new numbers")
	return cmd
}

func (a *app) uiOptions() (uiOptions, error) {
	o := uiOptions{addr: a.v.GetString("addr"), rules: a.v.GetString("rules"), interval: a.v.GetDuration("interval")}
	var err error
	if o.keysFile, err = a.keysFile(); err != nil {
		return o, err
	}
	if o.interval < 100*time.Millisecond {
		return o, fmt.Errorf("%w: --interval %s: want at least 100ms", errUsage, o.interval)
	}
	return o, nil
}

func runUI(ctx context.Context, a *app, cmd *cobra.Command, o uiOptions) error {
	ch, releaseCH, err := a.clickhouse(ctx)
	if err != nil {
		return err
	}
	defer releaseCH()
	var kc *stream.ClientConfig
	switch cfg, err := a.kafkaConnect(ctx); {
	case errors.Is(err, errNoServer):
		a.logger.Info("no Kafka given and no surge broker running: the page shows the reports without pipeline health")
	case err != nil:
		return err
	default:
		kc = &cfg
	}
	url, wait, err := startUI(ctx, a, ch, kc, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "campaign page: %s (Ctrl-C stops)\n", url)
	return wait()
}

// startUI serves the campaign page until ctx is done. It returns the page's
// URL and a func that waits for the server to end (after ctx is done) and
// returns its error.
func startUI(ctx context.Context, a *app, ch *analytics.Conn, kc *stream.ClientConfig, o uiOptions) (url string, wait func() error, err error) {
	set, err := loadRules(o.rules)
	if err != nil {
		return "", nil, err
	}
	opts := []web.Opt{web.WithLogger(a.logger), web.WithInterval(o.interval), web.WithBudgets(ruleBudgets(set)...)}
	closeProbe := func() {}
	if kc != nil {
		probe, err := health.New(ch, *kc, stream.DefaultTopics(), sink.DefaultGroup)
		if err != nil {
			return "", nil, err
		}
		opts, closeProbe = append(opts, web.WithPipeline(probe.Read)), probe.Close
	}
	if o.keysFile != "" {
		keys, err := gateway.LoadKeys(o.keysFile)
		if err != nil {
			closeProbe()
			return "", nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		opts = append(opts, web.WithAuth(func(secret string) (bool, bool) {
			name, ok := keys.Authorize(secret, gateway.ScopeReportsRead)
			return name != "", ok
		}))
	}
	// The page polls campaign-summary every interval: keep the buyers'
	// parts in memory rather than reading them every time.
	ch.KeepBuyersParts()
	srv, err := web.New(ch, opts...)
	if err != nil {
		closeProbe()
		return "", nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	ln, err := srv.Listen(o.addr)
	if err != nil {
		closeProbe()
		if errors.Is(err, web.ErrNeedsAuth) {
			return "", nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		return "", nil, fmt.Errorf("%w: --addr: %v", errUsage, err)
	}
	done := make(chan error, 1)
	go func() { // ended by ctx
		done <- srv.Serve(ctx, ln)
		closeProbe()
	}()
	url = "http://" + pageHost(ln.Addr()) + "/"
	a.logger.Info("campaign page serving", "url", url, "auth", o.keysFile != "")
	return url, func() error { return <-done }, nil
}

// pageHost is the listener's address as a browser should open it: a
// wildcard address becomes 127.0.0.1.
func pageHost(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}

// upUI starts the campaign page for surge up on --ui-addr (a free port if
// that one is taken) and prints its URL. The page is a convenience of the
// run: when it cannot start, a warning says why and the run goes on. stop
// ends it; nil when there is no page.
func upUI(ctx context.Context, a *app, ch *analytics.Conn, kc stream.ClientConfig, w io.Writer) (stop func()) {
	addr := a.v.GetString("ui-addr")
	if addr == "" {
		return nil
	}
	uctx, cancel := context.WithCancel(ctx)
	o := uiOptions{addr: addr, interval: time.Second}
	url, wait, err := startUI(uctx, a, ch, &kc, o)
	if err != nil && !errors.Is(err, web.ErrNeedsAuth) {
		o.addr = "127.0.0.1:0"
		url, wait, err = startUI(uctx, a, ch, &kc, o)
	}
	if err != nil {
		cancel()
		a.logger.Warn("campaign page not started", "err", err)
		return nil
	}
	fmt.Fprintf(w, "campaign page: %s (live while this run lasts; surge ui serves it any time)\n", url)
	return func() {
		cancel()
		if err := wait(); err != nil {
			a.logger.Warn("campaign page", "err", err)
		}
	}
}
