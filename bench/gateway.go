package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/gateway"
)

// Targets and settings of the gateway scenario.
const (
	gwRatioTarget = 0.5                   // gateway req/s >= 0.5 × bare net/http
	gwP99Target   = 10 * time.Millisecond // p99 at gwFixedRate orders/s
	gwFixedRate   = 20_000                // orders/s offered in the latency phase
	gwHalfRate    = gwFixedRate / 2       // also measured, for the latency below saturation
	gwBatchTarget = 300_000               // events/s through /v1/events:batch
	gwBatchSize   = 100
	gwConns       = 256 // connections of the throughput phase
	gwFixedConns  = 64  // connections of the latency phase (open loop)
	gwBatchConns  = 32  // connections of the batch phase
)

// gwGatewayLinger is the gateway producer's linger, as `surge gateway`
// runs it by default.
const gwGatewayLinger time.Duration = 0

// gwParams are the scenario's durations by mode.
type gwParams struct {
	throughput, fixed, batch, warm time.Duration
	runs                           int
}

func gatewayParams(quick bool) gwParams {
	if quick {
		return gwParams{throughput: 2 * time.Second, fixed: 5 * time.Second, batch: 3 * time.Second, warm: time.Second, runs: 3}
	}
	return gwParams{throughput: 10 * time.Second, fixed: 15 * time.Second, batch: 10 * time.Second, warm: 2 * time.Second, runs: 5}
}

// runGatewayBench measures the HTTP intake: surge's gateway (auth, schema
// validation, idempotency, produce with acks=all and the 202 after the
// ack) against a bare net/http handler that reads the body and answers
// 202, under the same load generator and connections.
func runGatewayBench(ctx context.Context, e *env) (*section, error) {
	par := gatewayParams(e.cfg.quick)
	b, err := startBroker(ctx, e)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	addrs := b.Addrs()
	admin, err := stream.ClientConfig{Brokers: addrs, ClientID: "bench-gateway-admin"}.NewClient()
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	secret, err := gateway.GenerateKey()
	if err != nil {
		return nil, err
	}
	bareAddr, stopBare, err := serveHandler(ctx, func(ctx context.Context, ln net.Listener) error {
		srv := &http.Server{Handler: http.HandlerFunc(bareHandler), ReadHeaderTimeout: 5 * time.Second}
		go func() { <-ctx.Done(); _ = srv.Close() }() // ends the server with ctx
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer stopBare()
	// Each phase gets a gateway over topics of its own, deleted after the
	// phase, so that the in-process broker's heap (and the garbage
	// collector's work on it) does not grow from phase to phase.
	stack := func(phase string) (*gwStack, error) {
		return startGatewayStack(ctx, e, admin, addrs, "gw"+phase, secret)
	}

	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	prefix := "bench" + strconv.FormatInt(time.Now().UnixNano(), 36)
	orders := &bodyBuilder{prefix: prefix, ts: ts, auth: secret, scratch: make([][]byte, gwConns)}
	batches := &bodyBuilder{prefix: prefix, ts: ts, auth: secret, scratch: make([][]byte, gwBatchConns)}
	countOrder := func(st int, _ []byte) int64 {
		if st == http.StatusAccepted {
			return 1
		}
		return 0
	}
	countBare := func(st int, _ []byte) int64 {
		if st == http.StatusAccepted {
			return gwBatchSize
		}
		return 0
	}
	var ledger kafkaLedger

	// 1. Throughput: closed loop, the same connections, sides alternating,
	// after an untimed warm-up (connections, pools, producer id, metadata).
	gw, err := stack("tp")
	if err != nil {
		return nil, err
	}
	e.printf("warming up both sides for %s each", par.warm)
	closedLoop(ctx, bareAddr, gwConns, par.warm, orders.order, countOrder)
	warm := closedLoop(ctx, gw.addr, gwConns, par.warm, orders.order, countOrder)
	var bareRates, gwRates, bareCPU, gwCPU []float64
	var gwLast *loadResult
	accepted := warm.accepted
	for run := 1; run <= par.runs; run++ {
		c0 := processCPU()
		br := closedLoop(ctx, bareAddr, gwConns, par.throughput, orders.order, countOrder)
		c1 := processCPU()
		gr := closedLoop(ctx, gw.addr, gwConns, par.throughput, orders.order, countOrder)
		c2 := processCPU()
		accepted += gr.accepted
		gwLast = gr
		if err := allAccepted(br, "bare"); err != nil {
			return nil, err
		}
		bareRates, gwRates = append(bareRates, br.rate()), append(gwRates, gr.rate())
		bareCPU = append(bareCPU, float64((c1-c0).Microseconds())/float64(max(br.requests, 1)))
		gwCPU = append(gwCPU, float64((c2-c1).Microseconds())/float64(max(gr.requests, 1)))
		e.printf("throughput run %d: bare %s req/s (p99 %s), gateway %s req/s (p99 %s; %s)", run,
			fmtRate(br.rate()), fmtMs(br.p(0.99)), fmtRate(gr.rate()), fmtMs(gr.p(0.99)), gr.statusText())
	}
	if err := ledger.check(ctx, gw, "throughput", accepted, 0); err != nil {
		return nil, err
	}
	// The ratio is the median of the paired runs' ratios: each pair ran
	// back to back, so a change in the machine's load between pairs
	// moves both sides.
	ratios := make([]float64, len(gwRates))
	for i := range gwRates {
		ratios[i] = gwRates[i] / bareRates[i]
	}
	ratio := median(ratios)

	// 2. Latency at a fixed offered load (open loop).
	if gw, err = stack("fixed"); err != nil {
		return nil, err
	}
	closedLoop(ctx, gw.addr, gwFixedConns, par.warm/2, orders.order, countOrder) // connections and metadata; counted below
	warmFixed := gw.accepted(ctx)
	bareHalf := openLoop(ctx, bareAddr, gwFixedConns, gwHalfRate, par.fixed, orders.order, countOrder)
	gwHalf := openLoop(ctx, gw.addr, gwFixedConns, gwHalfRate, par.fixed, orders.order, countOrder)
	bareFixed := openLoop(ctx, bareAddr, gwFixedConns, gwFixedRate, par.fixed, orders.order, countOrder)
	gwFixed := openLoop(ctx, gw.addr, gwFixedConns, gwFixedRate, par.fixed, orders.order, countOrder)
	if err := ledger.check(ctx, gw, "fixed rate", gwHalf.accepted+gwFixed.accepted, warmFixed); err != nil {
		return nil, err
	}
	e.printf("%s orders/s offered for %s: bare p50 %s p99 %s; gateway p50 %s p99 %s p99.9 %s (%s)",
		fmtCount(gwHalfRate), par.fixed, fmtMs(bareHalf.p(0.5)), fmtMs(bareHalf.p(0.99)),
		fmtMs(gwHalf.p(0.5)), fmtMs(gwHalf.p(0.99)), fmtMs(gwHalf.p(0.999)), gwHalf.statusText())
	e.printf("%s orders/s offered for %s: bare p50 %s p99 %s; gateway p50 %s p99 %s p99.9 %s (%s)",
		fmtCount(gwFixedRate), par.fixed, fmtMs(bareFixed.p(0.5)), fmtMs(bareFixed.p(0.99)),
		fmtMs(gwFixed.p(0.5)), fmtMs(gwFixed.p(0.99)), fmtMs(gwFixed.p(0.999)), gwFixed.statusText())

	// 3. Batch endpoint: NDJSON batches of gwBatchSize events with an
	// Idempotency-Key each, as HTTPSender sends them.
	if gw, err = stack("batch"); err != nil {
		return nil, err
	}
	closedLoop(ctx, gw.addr, gwBatchConns, par.warm/2, batches.batch, countBatch)
	warmBatch := gw.accepted(ctx)
	bareBatch := closedLoop(ctx, bareAddr, gwBatchConns, par.batch, batches.batch, countBare)
	gwBatch := closedLoop(ctx, gw.addr, gwBatchConns, par.batch, batches.batch, countBatch)
	if err := ledger.check(ctx, gw, "batch", gwBatch.accepted, warmBatch); err != nil {
		return nil, err
	}
	bareEvents, gwEvents := rate(bareBatch.accepted, bareBatch.took), rate(gwBatch.accepted, gwBatch.took)
	e.printf("batches of %d: bare %s events/s, gateway %s events/s (%s, p99 %s per batch)", gwBatchSize,
		fmtRate(bareEvents), fmtRate(gwEvents), gwBatch.statusText(), fmtMs(gwBatch.p(0.99)))

	// 4. Every accepted record is in Kafka, once (checked per phase).
	inKafka, lossless := ledger.inKafka, ledger.lossless()
	e.printf("Kafka: %s records written, %s accepted (202 orders + accepted batch items)", fmtCount(inKafka), fmtCount(ledger.accepted))

	p99 := gwFixed.p(0.99)
	fixedOK := gwFixed.errs == 0 && gwFixed.byStatus[http.StatusAccepted] == gwFixed.requests
	sec := &section{
		Summary: fmt.Sprintf("gateway: %.2f of bare net/http (%s vs %s req/s)%s, p99 %s at %s orders/s%s, batch %s events/s%s, Kafka %s == accepted %s%s",
			ratio, fmtRate(median(gwRates)), fmtRate(median(bareRates)), verdict(ratio >= gwRatioTarget),
			fmtMs(p99), fmtRate(gwFixedRate), verdict(p99 < gwP99Target && fixedOK),
			fmtRate(gwEvents), verdict(gwEvents >= gwBatchTarget),
			fmtCount(inKafka), fmtCount(ledger.accepted), verdict(lossless)),
		Targets: []target{
			{Goal: fmt.Sprintf("gateway req/s >= %.1f × bare net/http handler", gwRatioTarget),
				Result: fmt.Sprintf("%.2f (%s vs %s req/s)", ratio, fmtRate(median(gwRates)), fmtRate(median(bareRates))), Met: ratio >= gwRatioTarget},
			{Goal: fmt.Sprintf("p99 < %s at %s orders/s offered", fmtMs(gwP99Target), fmtRate(gwFixedRate)),
				Result: fmt.Sprintf("p99 %s (p50 %s, p99.9 %s; at %s/s: p99 %s)", fmtMs(p99), fmtMs(gwFixed.p(0.5)), fmtMs(gwFixed.p(0.999)),
					fmtRate(gwHalfRate), fmtMs(gwHalf.p(0.99))), Met: p99 < gwP99Target && fixedOK},
			{Goal: fmt.Sprintf("batch endpoint >= %s events/s at batch size %d", fmtRate(gwBatchTarget), gwBatchSize),
				Result: fmt.Sprintf("%s events/s", fmtRate(gwEvents)), Met: gwEvents >= gwBatchTarget},
			{Goal: "records in Kafka == records answered 202 (no accepted record lost)",
				Result: fmt.Sprintf("%s == %s", fmtCount(inKafka), fmtCount(ledger.accepted)), Met: lossless},
		},
	}
	var body strings.Builder
	var rows [][]string
	for i := range gwRates {
		rows = append(rows, []string{fmt.Sprint(i + 1), fmt.Sprintf("%s (%.1f µs CPU)", fmtRate(bareRates[i]), bareCPU[i]),
			fmt.Sprintf("%s (%.1f µs CPU)", fmtRate(gwRates[i]), gwCPU[i]), fmt.Sprintf("%.2f", gwRates[i]/bareRates[i])})
	}
	body.WriteString("Throughput, closed loop (each connection sends its next order when the\nanswer to the previous one arrived), requests/s with the process CPU time per\nrequest (load generator, server and, for the gateway, the in-process broker):\n\n")
	body.WriteString(mdTable([]string{"run", "bare net/http", "surge gateway", "gateway / bare"}, rows))
	fmt.Fprintf(&body, "\nGateway answers in the last throughput run: %s; p50 %s, p99 %s.\n\n",
		gwLast.statusText(), fmtMs(gwLast.p(0.5)), fmtMs(gwLast.p(0.99)))
	body.WriteString(mdTable([]string{"phase", "bare net/http", "surge gateway"}, [][]string{
		{fmt.Sprintf("%s orders/s offered for %s: p50 / p99 / p99.9", fmtRate(gwFixedRate), par.fixed),
			fmt.Sprintf("%s / %s / %s", fmtMs(bareFixed.p(0.5)), fmtMs(bareFixed.p(0.99)), fmtMs(bareFixed.p(0.999))),
			fmt.Sprintf("%s / %s / %s", fmtMs(gwFixed.p(0.5)), fmtMs(gwFixed.p(0.99)), fmtMs(gwFixed.p(0.999)))},
		{"  answers", bareFixed.statusText(), gwFixed.statusText()},
		{fmt.Sprintf("%s orders/s offered for %s: p50 / p99 / p99.9", fmtRate(gwHalfRate), par.fixed),
			fmt.Sprintf("%s / %s / %s", fmtMs(bareHalf.p(0.5)), fmtMs(bareHalf.p(0.99)), fmtMs(bareHalf.p(0.999))),
			fmt.Sprintf("%s / %s / %s", fmtMs(gwHalf.p(0.5)), fmtMs(gwHalf.p(0.99)), fmtMs(gwHalf.p(0.999)))},
		{"  answers", bareHalf.statusText(), gwHalf.statusText()},
		{fmt.Sprintf("batches of %d events, %d connections: events/s", gwBatchSize, gwBatchConns),
			fmtRate(bareEvents), fmtRate(gwEvents)},
		{"  batch p50 / p99", fmt.Sprintf("%s / %s", fmtMs(bareBatch.p(0.5)), fmtMs(bareBatch.p(0.99))),
			fmt.Sprintf("%s / %s", fmtMs(gwBatch.p(0.5)), fmtMs(gwBatch.p(0.99)))},
	}))
	fmt.Fprintf(&body, `
Kafka end offsets over the data topics grew by %s records; the gateway
answered 202 for %s orders and accepted %s batch items, %s in all.

- **Load generator**: a minimal HTTP/1.1 client in the bench process with
  keep-alive connections, the same number for both sides: %d in the
  throughput phase (a 202 waits for Kafka's ack, so the gateway needs
  concurrency to hide that wait), %d in the latency phase (more connections
  only add scheduling latency on %d CPUs, to both sides), %d for batches;
  one request in flight per connection, like wrk. Each order is unique (its own order_id, the
  gateway's default idempotency key), about %d bytes, 5%% of them vip (the
  priority lane); batches are NDJSON, %d user events of about %d bytes,
  each batch with its own Idempotency-Key, as gateway.HTTPSender sends them.
  The latency phase is open loop: requests are due at a fixed rate and timed
  from when they were due, so queueing in the client counts (no
  coordinated omission).
- **bare net/http**: http.Server with a handler that reads the body to the
  end and answers 202 with a small JSON body.
- **surge gateway**: gateway.Gateway.Serve with an API key (SHA-256,
  constant-time compare), schema validation, idempotency (in memory and the
  gateway-idempotency topic), the in-flight bound, and a stream.Producer
  (acks=all, idempotent, lz4, linger %s) writing to the in-process kfake
  broker, which shares the %d CPUs with both servers and the load generator.
  A 202 is sent only after Kafka acknowledged the record.
- Sides alternate, %d round(s) of %s each after %s of untimed warm-up per
  side; the throughput ratio is the median of the rounds' ratios.
- Each phase runs a fresh gateway over topics of its own, stopped
  gracefully and its topics counted (end offsets == records accepted) and
  deleted after the phase, so the in-process broker's heap stays small.
`,
		fmtCount(inKafka), fmtCount(ledger.orders), fmtCount(ledger.items), fmtCount(ledger.accepted),
		gwConns, gwFixedConns, e.machine.NProc, gwBatchConns, len(orders.sampleOrder()), gwBatchSize, len(orders.sampleEvent()),
		gwGatewayLinger, e.machine.NProc, par.runs, par.throughput, par.warm)
	sec.Body = body.String()
	if !lossless {
		return sec, fmt.Errorf("records lost or duplicated: %s", strings.Join(ledger.mismatch, "; "))
	}
	return sec, nil
}

// bareHandler is the baseline: read the body, answer 202.
func bareHandler(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"accepted"}` + "\n"))
}

// serveHandler runs serve on a fresh loopback listener until stop.
func serveHandler(ctx context.Context, serve func(context.Context, net.Listener) error) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = serve(sctx, ln) }() // ended by stop
	return ln.Addr().String(), func() { cancel(); <-done }, nil
}

func allAccepted(r *loadResult, side string) error {
	if r.errs > 0 || r.byStatus[http.StatusAccepted] != r.requests {
		return fmt.Errorf("%s: not every request was answered 202: %s", side, r.statusText())
	}
	return nil
}

// countBatch reads the accepted count at the start of a batch answer.
func countBatch(st int, body []byte) int64 {
	const pre = `{"accepted":`
	if st != http.StatusAccepted || !bytes.HasPrefix(body, []byte(pre)) {
		return 0
	}
	rest := body[len(pre):]
	i := bytes.IndexByte(rest, ',')
	if i < 0 {
		return 0
	}
	n, _ := strconv.ParseInt(string(rest[:i]), 10, 64)
	return n
}

// kafkaLedger adds up, phase by phase, what the gateway accepted and what
// Kafka holds.
type kafkaLedger struct {
	accepted, inKafka int64
	orders, items     int64
	mismatch          []string
}

// check stops gw gracefully (answers, flush), compares the records its
// topics hold with what it accepted (accepted during the phase plus
// before, records written before the timed part), and deletes its topics.
func (l *kafkaLedger) check(ctx context.Context, gw *gwStack, phase string, accepted, before int64) error {
	gw.stop()
	n, err := dataOffsets(ctx, gw.addrs, gw.partitions, gw.topics)
	if err != nil {
		return err
	}
	gw.drop(ctx)
	if phase == "batch" {
		l.items += accepted + before
	} else {
		l.orders += accepted + before
	}
	l.accepted += accepted + before
	l.inKafka += n
	if n != accepted+before {
		l.mismatch = append(l.mismatch, fmt.Sprintf("%s: Kafka holds %d records, %d were accepted", phase, n, accepted+before))
	}
	return nil
}

func (l *kafkaLedger) lossless() bool { return len(l.mismatch) == 0 }

// gwStack is a gateway over topics of its own, served on a loopback port.
type gwStack struct {
	addr       string
	addrs      []string // brokers
	partitions int
	topics     stream.Topics
	idemTopic  string
	admin      *kgo.Client
	p          *stream.Producer
	stop       func()
}

func startGatewayStack(ctx context.Context, e *env, admin *kgo.Client, addrs []string, prefix, secret string) (*gwStack, error) {
	t := stream.DefaultTopics()
	t = stream.Topics{Orders: prefix + "-" + t.Orders, OrdersPriority: prefix + "-" + t.OrdersPriority,
		UserEvents: prefix + "-" + t.UserEvents, Coupons: prefix + "-" + t.Coupons, DeadLetters: prefix + "-" + t.DeadLetters}
	s := &gwStack{addrs: addrs, partitions: e.cfg.partitions, topics: t, idemTopic: prefix + "-" + gateway.DefaultIdempotencyTopic, admin: admin}
	if err := ensureTopics(ctx, admin, t, e.cfg.partitions); err != nil {
		return nil, err
	}
	p, err := stream.NewProducer(stream.WithBrokers(addrs...), stream.WithTopics(t),
		stream.WithClientID("bench-gateway"), stream.WithLinger(gwGatewayLinger))
	if err != nil {
		return nil, err
	}
	joinResizes(ctx, p, e.log)
	s.p = p
	keys, err := gateway.NewKeys(gateway.Key{Name: "bench", SHA256: gateway.HashKey(secret),
		Scopes: []gateway.Scope{gateway.ScopeOrdersWrite, gateway.ScopeEventsWrite}})
	if err != nil {
		p.Close()
		return nil, err
	}
	g, err := gateway.New(ctx, gateway.WithProducer(p), gateway.WithKeys(keys), gateway.WithLogger(e.log),
		gateway.WithIdempotencyTopic(s.idemTopic, int32(e.cfg.partitions), -1))
	if err != nil {
		p.Close()
		return nil, err
	}
	addr, stop, err := serveHandler(ctx, g.Serve)
	if err != nil {
		p.Close()
		return nil, err
	}
	s.addr = addr
	var once bool
	s.stop = func() {
		if !once {
			once = true
			stop() // graceful: answers in-flight requests, flushes
			p.Close()
		}
	}
	return s, nil
}

// accepted is what the stack's topics hold so far.
func (s *gwStack) accepted(ctx context.Context) int64 {
	if err := s.p.Flush(ctx); err != nil {
		return -1
	}
	n, err := dataOffsets(ctx, s.addrs, s.partitions, s.topics)
	if err != nil {
		return -1
	}
	return n
}

// drop deletes the stack's topics, freeing the broker's memory.
func (s *gwStack) drop(ctx context.Context) {
	deleteTopics(context.WithoutCancel(ctx), s.admin, append(s.topics.All(), s.idemTopic)...)
}

// dataOffsets sums the end offsets of the data topics.
func dataOffsets(ctx context.Context, addrs []string, partitions int, t stream.Topics) (int64, error) {
	return endOffsets(ctx, addrs, partitions, t.Data()...)
}

// bodyBuilder makes unique orders and event batches.
type bodyBuilder struct {
	prefix, ts, auth string
	seq              atomic.Int64
	scratch          [][]byte // per connection
}

func (b *bodyBuilder) appendOrder(dst []byte, n int64) []byte {
	ns := strconv.FormatInt(n, 10)
	prio := "normal"
	if n%20 == 0 {
		prio = "vip"
	}
	dst = append(dst, `{"kind":"order","v":1,"event_id":"`...)
	dst = append(dst, b.prefix...)
	dst = append(dst, "-o-"...)
	dst = append(dst, ns...)
	dst = append(dst, `","order_id":"`...)
	dst = append(dst, b.prefix...)
	dst = append(dst, '-')
	dst = append(dst, ns...)
	dst = append(dst, `","user_id":"u-`...)
	dst = strconv.AppendInt(dst, n%50_000, 10)
	dst = append(dst, `","items":[{"sku":"black-friday-sku-00042","qty":1,"unit_price":49900},{"sku":"black-friday-sku-01234","qty":2,"unit_price":1299}],"amount":52498,"currency":"USD","campaign_id":"black-friday","priority":"`...)
	dst = append(dst, prio...)
	dst = append(dst, `","created_at":"`...)
	dst = append(dst, b.ts...)
	return append(dst, `"}`...)
}

func (b *bodyBuilder) appendEvent(dst []byte, n int64) []byte {
	dst = append(dst, `{"kind":"user_event","v":1,"event_id":"`...)
	dst = append(dst, b.prefix...)
	dst = append(dst, "-e-"...)
	dst = strconv.AppendInt(dst, n, 10)
	dst = append(dst, `","user_id":"u-`...)
	dst = strconv.AppendInt(dst, n%50_000, 10)
	dst = append(dst, `","session_id":"s-`...)
	dst = strconv.AppendInt(dst, n/8, 10)
	if n%3 == 0 {
		dst = append(dst, `","type":"add_to_cart","sku":"black-friday-sku-00042`...)
	} else {
		dst = append(dst, `","type":"page_view`...)
	}
	dst = append(dst, `","campaign_id":"black-friday","ts":"`...)
	dst = append(dst, b.ts...)
	return append(dst, `"}`...)
}

func (b *bodyBuilder) sampleOrder() []byte { return b.appendOrder(nil, 123456) }
func (b *bodyBuilder) sampleEvent() []byte { return b.appendEvent(nil, 1234567) }

// order builds a POST /v1/orders request.
func (b *bodyBuilder) order(w int, buf []byte) []byte {
	body := b.appendOrder(b.scratch[w][:0], b.seq.Add(1))
	b.scratch[w] = body
	return appendRequest(buf, "/v1/orders", "application/json", b.auth, "", body)
}

// batch builds a POST /v1/events:batch request of gwBatchSize events.
func (b *bodyBuilder) batch(w int, buf []byte) []byte {
	n0 := b.seq.Add(gwBatchSize) - gwBatchSize
	body := b.scratch[w][:0]
	for i := range int64(gwBatchSize) {
		body = append(b.appendEvent(body, n0+i), '\n')
	}
	b.scratch[w] = body
	return appendRequest(buf, "/v1/events:batch", "application/x-ndjson", b.auth, b.prefix+"-b-"+strconv.FormatInt(n0, 10), body)
}

func appendRequest(dst []byte, path, ctype, auth, idemKey string, body []byte) []byte {
	dst = append(dst, "POST "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: bench\r\nContent-Type: "...)
	dst = append(dst, ctype...)
	dst = append(dst, "\r\nAuthorization: Bearer "...)
	dst = append(dst, auth...)
	if idemKey != "" {
		dst = append(dst, "\r\nIdempotency-Key: "...)
		dst = append(dst, idemKey...)
	}
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}
