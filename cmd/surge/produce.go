package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/surgeio/surge/internal/output"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/loadgen"
)

type produceOpts struct {
	gen         loadgen.Config
	compression string
	output      output.Format
	progress    bool
	metricsAddr string
}

// loadFlags are the traffic flags of surge produce and surge up.
type loadFlags struct {
	gen         loadgen.Config
	shape       string
	compression string
	noProgress  bool
}

// addLoadFlags adds the traffic flags, bound to lf; rate and d are the
// command's defaults.
func addLoadFlags(cmd *cobra.Command, lf *loadFlags, rate float64, d time.Duration) {
	f := cmd.Flags()
	f.Float64Var(&lf.gen.Rate, "rate", rate, "target records/s at the shape's nominal level; 0 = as fast as possible")
	f.DurationVar(&lf.gen.Duration, "duration", d, "how long to generate traffic")
	f.Int64Var(&lf.gen.MaxRecords, "max-records", 0, "stop after this many records (0 = no limit)")
	f.IntVar(&lf.gen.Users, "users", 10000, "shopper population")
	f.Float64Var(&lf.gen.VIPShare, "vip-share", 0.05, "share of VIP shoppers")
	f.StringVar(&lf.shape, "shape", "spike", "traffic shape: steady, ramp, or spike (a 10x burst in the middle tenth)")
	f.Int64Var(&lf.gen.Seed, "seed", 0, "random seed: the same seed replays the same records (and event ids); 0 picks one and prints it")
	f.StringVar(&lf.compression, "compression", "lz4", "Kafka compression: none, gzip, snappy, lz4, zstd")
	f.BoolVar(&lf.noProgress, "no-progress", false, "do not draw the progress bar")
}

// config is the generator's configuration.
func (lf *loadFlags) config() loadgen.Config {
	c := lf.gen
	c.Shape = loadgen.Shape(lf.shape)
	return c
}

func newProduceCmd(a *app) *cobra.Command {
	var (
		lf                      loadFlags
		metricsAddr, outputName string
	)
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Generate holiday-peak traffic: shoppers' sessions, orders and status events",
		Long: `Generate realistic commerce traffic onto the orders and user-events topics.

A population of shoppers browses, searches, adds to cart, checks out and orders,
with drop-off at every step; VIPs convert better; several holiday campaigns run
at once. Records are keyed by user id, written with acks=all by an idempotent
producer. The summary counts only acknowledged records, so it can be checked
against 'surge report campaign-summary'.`,
		Example: `  surge produce --rate 20000 --duration 1m --shape spike
  surge produce --rate 0 --max-records 1000000 --output json   # as fast as possible`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseOutput(outputName, output.Table, output.JSON)
			if err != nil {
				return err
			}
			o := produceOpts{gen: lf.config(), compression: lf.compression, output: f,
				progress: !lf.noProgress, metricsAddr: metricsAddr}
			return runProduce(cmd.Context(), a, cmd, o)
		},
	}
	addLoadFlags(cmd, &lf, 20000, time.Minute)
	a.addKafkaFlags(cmd.Flags())
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus /metrics (Kafka client metrics) on this address while producing")
	outputVar(cmd.Flags(), &outputName, "table", "json")
	return cmd
}

func runProduce(ctx context.Context, a *app, cmd *cobra.Command, o produceOpts) error {
	kc, release, err := a.kafka(ctx)
	if err != nil {
		return err
	}
	defer release()
	reg := newRegistry()
	if err := a.serveMetrics(ctx, o.metricsAddr, reg); err != nil {
		return err
	}
	kc.ExtraOpts = append(kc.ExtraOpts, kafkaMetrics(reg))
	if len(a.brokers()) == 0 {
		// The embedded broker is ours to set up; a real cluster's topics
		// are the operator's (surge topics create).
		if err := ensureTopics(ctx, kc, stream.DefaultTopics(), 8); err != nil {
			return err
		}
	}
	stats, err := generate(ctx, a, kc, o.gen, o.compression, o.progress, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	return printLoadStats(cmd.OutOrStdout(), o.output, stats)
}

// generate runs the load generator against Kafka with a progress bar.
func generate(ctx context.Context, a *app, kc stream.ClientConfig, cfg loadgen.Config, compression string, progress bool, w io.Writer) (*loadgen.Stats, error) {
	p, err := stream.NewProducer(
		stream.WithBrokers(kc.Brokers...),
		stream.WithSecurity(kc.Security),
		stream.WithClientOpts(kc.ExtraOpts...),
		stream.WithCompression(compression),
		stream.WithLogger(a.logger),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	defer p.Close()
	a.joinResizes(ctx, p)
	var bar *progressBar
	if progress {
		bar = newProgressBar(w, cfg.Duration, "producing")
		cfg.OnProgress = bar.update
	}
	g, err := loadgen.New(cfg, func(ctx context.Context, r schemas.Record, done func(error)) {
		p.ProduceAsync(ctx, r, func(_ stream.Ack, err error) { done(err) })
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	stats, err := g.Run(ctx)
	if bar != nil {
		bar.finish()
	}
	if err != nil && ctx.Err() == nil {
		return stats, err
	}
	if ferr := p.Flush(context.WithoutCancel(ctx)); ferr != nil {
		return stats, fmt.Errorf("flush producer: %w", ferr)
	}
	return stats, nil
}

// produceReport is surge produce's --output json. Its keys are stable.
type produceReport struct {
	Seed             int64                      `json:"seed"`
	Records          int64                      `json:"records"`
	Acked            int64                      `json:"acked"`
	Failed           int64                      `json:"failed"`
	ElapsedSeconds   float64                    `json:"elapsed_seconds"`
	RecordsPerSecond float64                    `json:"records_per_second"`
	LatencyP50Ms     float64                    `json:"latency_p50_ms"`
	LatencyP99Ms     float64                    `json:"latency_p99_ms"`
	LatencyP999Ms    float64                    `json:"latency_p999_ms"`
	ByKind           map[string]int64           `json:"by_kind"`
	EventsByType     map[string]int64           `json:"events_by_type"`
	Campaigns        map[string]produceCampaign `json:"campaigns"`
}

// produceCampaign is one campaign's acked orders; gmv_minor is in minor
// units of currency.
type produceCampaign struct {
	Orders       int64  `json:"orders"`
	GMVMinor     int64  `json:"gmv_minor"`
	Currency     string `json:"currency"`
	Buyers       int64  `json:"buyers"`
	CouponOrders int64  `json:"coupon_orders"`
}

func newProduceReport(s *loadgen.Stats) produceReport {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r := produceReport{
		Seed: s.Seed, Records: s.Records, Acked: s.Acked, Failed: s.Failed,
		ElapsedSeconds:   s.Elapsed.Seconds(),
		RecordsPerSecond: float64(s.Acked) / max(s.Elapsed.Seconds(), 1e-9),
		LatencyP50Ms:     ms(s.LatencyP50), LatencyP99Ms: ms(s.LatencyP99), LatencyP999Ms: ms(s.LatencyP999),
		ByKind:       map[string]int64{},
		EventsByType: map[string]int64{},
		Campaigns:    map[string]produceCampaign{},
	}
	for k, n := range s.ByKind {
		r.ByKind[string(k)] = n
	}
	for k, n := range s.EventsByType {
		r.EventsByType[string(k)] = n
	}
	for id, c := range s.Campaigns {
		r.Campaigns[id] = produceCampaign{Orders: c.Orders, GMVMinor: c.GMV, Currency: c.Currency, Buyers: c.Buyers, CouponOrders: c.CouponOrders}
	}
	return r
}

func printLoadStats(w io.Writer, f output.Format, s *loadgen.Stats) error {
	if f == output.JSON {
		return output.Value(w, newProduceReport(s))
	}
	rate := float64(s.Acked) / max(s.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "produced %d records (%d acked, %d failed) in %s with seed %d: %.0f records/s; ack latency p50 %s p99 %s p99.9 %s\n",
		s.Records, s.Acked, s.Failed, s.Elapsed.Round(time.Millisecond), s.Seed, rate,
		s.LatencyP50, s.LatencyP99, s.LatencyP999)
	ids := make([]string, 0, len(s.Campaigns))
	for id := range s.Campaigns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	rows := make([][]any, 0, len(ids))
	for _, id := range ids {
		c := s.Campaigns[id]
		rows = append(rows, []any{id, c.Orders, c.GMV, c.Currency, c.Buyers, c.CouponOrders})
	}
	return output.Rows(w, output.Table, []string{"campaign", "orders", "gmv_minor", "currency", "buyers", "coupon_orders"}, rows)
}
