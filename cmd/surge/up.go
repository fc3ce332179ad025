package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/output"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/admin"
	"github.com/surgeio/surge/stream/dispatch"
	"github.com/surgeio/surge/stream/loadgen"
	"github.com/surgeio/surge/stream/sink"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// upOptions are surge up's flags (--via-gateway, --gateway-addr and
// --ui-addr are read where they are defined).
type upOptions struct {
	load        loadFlags
	sink        sinkOpts
	partitions  int32
	metricsAddr string
}

func newUpCmd(a *app) *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole pipeline on this machine: broker, ClickHouse, topics, sink and a holiday peak",
		Long: `Run the whole pipeline for a short holiday-peak rehearsal, then print the
campaign summary from ClickHouse.

It starts (or reuses) the embedded broker and a local ClickHouse under
--data-dir, creates the topics, runs the exactly-once sink, and generates a
peak of shopper traffic (by default one minute with a 10x midnight burst). When
the generator stops it waits until ClickHouse holds every acknowledged record,
checks the counts against what was produced, and prints the report.`,
		Example: `  surge up
  surge up --duration 5m --rate 50000
  surge up --via-gateway --gateway-addr 127.0.0.1:8080   # traffic over HTTP through surge gateway
  surge up --brokers localhost:9092 --clickhouse localhost:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUp(cmd.Context(), a, cmd, o)
		},
	}
	addLoadFlags(cmd, &o.load, 5000, time.Minute)
	addUpGatewayFlags(cmd)
	addSinkFlags(cmd, &o.sink)
	a.addKafkaFlags(cmd.Flags())
	a.addClickHouseFlags(cmd.Flags())
	cmd.Flags().Int32Var(&o.partitions, "partitions", 8, "partitions per topic when creating them")
	cmd.Flags().StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this address (e.g. :9464)")
	cmd.Flags().String("ui-addr", "127.0.0.1:8070", `serve the live campaign page (surge ui) here while the run lasts; "" for none`)
	return cmd
}

// runUp runs the pipeline and the traffic. The long-running parts (sink,
// dispatch fleet, coupon triggers) run in one errgroup: the first of them
// to fail stops the others and the traffic, and its error is the
// command's; when the traffic and the checks are done they are stopped
// together and awaited.
func runUp(ctx context.Context, a *app, cmd *cobra.Command, o *upOptions) error {
	cfg := o.load.config()
	kc, releaseKafka, err := a.kafka(ctx)
	if err != nil {
		return err
	}
	defer releaseKafka()
	ch, releaseCH, err := a.clickhouse(ctx)
	if err != nil {
		return err
	}
	defer releaseCH()

	topics := stream.DefaultTopics()
	if err := ensureTopics(ctx, kc, topics, o.partitions); err != nil {
		return err
	}
	before, err := tableCounts(ctx, ch)
	if err != nil {
		return err
	}
	reg := newRegistry()
	if err := a.serveMetrics(ctx, o.metricsAddr, reg); err != nil {
		return err
	}
	kc.ExtraOpts = append(kc.ExtraOpts, kafkaMetrics(reg))
	s, err := sink.New(ch, o.sink.sinkOptions(a, kc, reg)...)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	// Inventory, payment and notification services, each its own consumer
	// group on the order lanes, simulated.
	fleet, err := dispatch.NewFleet(fleetNames,
		dispatch.WithClient(kc),
		dispatch.WithTopics([]string{topics.Orders}, topics.OrdersPriority),
		dispatch.WithDeadLetterTopic(topics.DeadLetters),
		// The simulated services fail on purpose; their retries and dead
		// letters are counted below, so only errors are logged.
		dispatch.WithLogger(slog.New(levelFloor{a.logger.Handler(), slog.LevelError})),
		dispatch.WithRegisterer(reg),
	)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	// Coupon triggers over the same traffic, with the sample holiday rules.
	// Shoppers redeem the coupons they were issued: each committed coupon
	// goes into the generator's wallet.
	coupons := newIssueCounter()
	wallet := loadgen.NewWallet()
	cfg.Wallet = wallet
	trig, err := newUpTriggers(a, kc, reg, func(is rules.Issue) {
		coupons.add(is)
		wallet.Offer(is.Coupon())
	})
	if err != nil {
		return err
	}

	svcCtx, stopServices := context.WithCancel(ctx)
	defer stopServices()
	g, gctx := errgroup.WithContext(svcCtx)
	service := func(name string, run func(context.Context) error) {
		g.Go(func() error {
			// Errors after the stop was asked for are the stop itself.
			if err := run(gctx); err != nil && svcCtx.Err() == nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	service("sink", s.Run)
	service("dispatch", fleet.Run)
	service("triggers", trig.Run)

	err = upTraffic(gctx, a, cmd, cfg, upRun{kc: kc, ch: ch, before: before, fleet: fleet, coupons: coupons,
		compression: o.load.compression, progress: !o.load.noProgress})
	stopServices()
	if werr := g.Wait(); werr != nil {
		return werr // the traffic stopped because of it
	}
	return err
}

// upRun is what the traffic phase of surge up works with.
type upRun struct {
	kc      stream.ClientConfig
	ch      *analytics.Conn
	before  map[string]uint64
	fleet   *dispatch.Fleet
	coupons *issueCounter
	// compression and progress are the traffic's --compression and
	// --no-progress.
	compression string
	progress    bool
}

// upTraffic generates the traffic, waits until ClickHouse and the
// dispatchers have all of it, checks the counts and prints the summary.
func upTraffic(ctx context.Context, a *app, cmd *cobra.Command, cfg loadgen.Config, r upRun) error {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "surge up: brokers %v, ClickHouse database %q, %s of %s traffic at %.0f records/s\n",
		r.kc.Brokers, r.ch.Database(), cfg.Duration, cfg.Shape, cfg.Rate)
	if stopUI := upUI(ctx, a, r.ch, r.kc, out); stopUI != nil {
		defer stopUI()
	}
	gen := generate
	if a.v.GetBool("via-gateway") {
		gen = generateViaGateway // the traffic goes through the HTTP gateway
	}
	stats, err := gen(ctx, a, r.kc, cfg, r.compression, r.progress, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if err := printLoadStats(out, output.Table, stats); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	var couponOrders int64
	for _, c := range stats.Campaigns {
		couponOrders += c.CouponOrders
	}
	want := map[string]uint64{
		string(analytics.TableOrders):      uint64(stats.ByKind[schemas.KindOrder]),
		string(analytics.TableOrderStatus): uint64(stats.ByKind[schemas.KindOrderStatus]),
		string(analytics.TableUserEvents):  uint64(stats.ByKind[schemas.KindUserEvent]),
		"orders redeeming a coupon":        uint64(couponOrders),
	}
	if err := waitForSink(ctx, r.ch, r.before, want, out); err != nil {
		return err
	}
	waitForFleet(ctx, r.fleet, stats.ByKind[schemas.KindOrder]+stats.ByKind[schemas.KindOrderStatus], out)
	r.coupons.print(out)
	fmt.Fprintln(out, "\ncampaign summary (all runs in this ClickHouse database):")
	res, err := r.ch.Report(ctx, "campaign-summary", analytics.ReportParams{})
	if err != nil {
		return err
	}
	return writeReport(out, output.Table, res)
}

func ensureTopics(ctx context.Context, kc stream.ClientConfig, topics stream.Topics, partitions int32) error {
	cl, err := kgo.NewClient(kc.Opts()...)
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	defer cl.Close()
	_, err = admin.New(cl).EnsureTopics(ctx, admin.DefaultSpecs(topics, partitions, 1))
	return err
}

// counted is a row count surge up checks against what the generator had
// acknowledged.
type counted struct {
	name   string
	query  string
	subset bool // counts rows already counted by another entry
}

var countedRows = []counted{
	{string(analytics.TableOrders), "SELECT count() FROM " + string(analytics.TableOrders), false},
	{string(analytics.TableOrderStatus), "SELECT count() FROM " + string(analytics.TableOrderStatus), false},
	{string(analytics.TableUserEvents), "SELECT count() FROM " + string(analytics.TableUserEvents), false},
	{"orders redeeming a coupon", "SELECT countIf(coupon_id != '') FROM " + string(analytics.TableOrders), true},
}

func tableCounts(ctx context.Context, ch *analytics.Conn) (map[string]uint64, error) {
	out := make(map[string]uint64)
	for _, c := range countedRows {
		var n uint64
		if err := ch.DB().QueryRow(ctx, c.query).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", c.name, err)
		}
		out[c.name] = n
	}
	return out, nil
}

func waitForSink(ctx context.Context, ch *analytics.Conn, before, want map[string]uint64, w io.Writer) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		now, err := tableCounts(ctx, ch)
		if err != nil {
			return err
		}
		done, over := true, false
		var got, total uint64
		for _, c := range countedRows {
			d, t := now[c.name]-before[c.name], c.name
			if !c.subset {
				got, total = got+min(d, want[t]), total+want[t]
			}
			done = done && d >= want[t]
			over = over || d > want[t]
		}
		if over {
			return fmt.Errorf("ClickHouse holds more rows than were produced: before %v, now %v, produced %v", before, now, want)
		}
		if done {
			fmt.Fprintf(w, "verified: ClickHouse holds exactly the %d acknowledged records of this run (%v)\n", total, want)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: the sink did not catch up within 2m: %d of %d rows", errUnavailable, got, total)
		}
		fmt.Fprintf(w, "waiting for the sink: %d of %d rows in ClickHouse\n", got, total)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// issueCounter counts coupons issued live, per rule, with the delay from the
// triggering event's time to the issue.
type issueCounter struct {
	mu     sync.Mutex
	byRule map[string]int64
	lags   []time.Duration
}

func newIssueCounter() *issueCounter { return &issueCounter{byRule: make(map[string]int64)} }

func (c *issueCounter) add(is rules.Issue) {
	lag := time.Since(time.UnixMilli(is.IssuedAt))
	c.mu.Lock()
	c.byRule[is.Rule]++
	if len(c.lags) < 1_000_000 {
		c.lags = append(c.lags, lag)
	}
	c.mu.Unlock()
}

func (c *issueCounter) print(w io.Writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byRule) == 0 {
		fmt.Fprintln(w, "\ncoupons issued live: none")
		return
	}
	rules := make([]string, 0, len(c.byRule))
	for r := range c.byRule {
		rules = append(rules, r)
	}
	slices.Sort(rules)
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = fmt.Sprintf("%s %d", r, c.byRule[r])
	}
	slices.Sort(c.lags)
	q := func(p float64) time.Duration { return c.lags[min(len(c.lags)-1, int(p*float64(len(c.lags))))] }
	fmt.Fprintf(w, "\ncoupons issued live: %s (event time -> issued: p50 %s, p99 %s)\n",
		strings.Join(parts, ", "), q(0.50).Round(100*time.Microsecond), q(0.99).Round(100*time.Microsecond))
}

var fleetNames = []string{"inventory", "payment", "notify"}

// waitForFleet waits (up to a minute) until every simulated service has
// handled or dead-lettered each order record of the run, then prints what
// each did.
func waitForFleet(ctx context.Context, fleet *dispatch.Fleet, want int64, w io.Writer) {
	deadline := time.Now().Add(time.Minute)
	for {
		behind := false
		for _, name := range fleetNames {
			st := fleet.Stats()[name]
			behind = behind || st.Processed+st.DeadLettered < want
		}
		if !behind || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	fmt.Fprintln(w)
	for _, name := range fleetNames {
		st := fleet.Stats()[name]
		fmt.Fprintf(w, "dispatch %-9s handled %d of %d order records, retried %d, dead-lettered %d\n",
			name, st.Processed, want, st.Retried, st.DeadLettered)
	}
}
