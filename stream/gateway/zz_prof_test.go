package gateway

import (
	"github.com/surgeio/surge/stream"
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestZZProfile(t *testing.T) {
	if os.Getenv("GWPROF") == "" {
		t.Skip("profiling harness; not under CI")
	}
	c := cluster(t)
	linger, _ := time.ParseDuration(os.Getenv("GWLINGER"))
	p, perr := stream.NewProducer(stream.WithBrokers(c.ListenAddrs()...), stream.WithLinger(linger))
	err := perr
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	g, err2 := New(testCtx(t), WithProducer(p), WithKeys(testKeys(t)))
	if err = err2; err != nil {
		t.Fatal(err)
	}
	var h http.Handler = g
	if os.Getenv("GWBARE") != "" {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(202)
			w.Write([]byte(`{"status":"accepted"}` + "\n"))
		})
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	mode := os.Getenv("GWPROF")
	var seq atomic.Int64
	var n atomic.Int64
	pre := make([][]byte, 0, 400000)
	if mode != "batch" {
		for i := 0; i < 200000; i++ {
			pre = append(pre, orderJSON())
		}
	}
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	var wg sync.WaitGroup
	end := time.Now().Add(5 * time.Second)
	conns, _ := strconv.Atoi(os.Getenv("GWCONNS"))
	if conns == 0 {
		conns = 64
	}
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			br := bufio.NewReader(conn)
			for time.Now().Before(end) {
				var body []byte
				path, ct := "/v1/orders", "application/json"
				if mode == "batch" {
					path, ct = "/v1/events:batch", "application/x-ndjson"
					for i := 0; i < 100; i++ {
						body = append(body, eventJSON("u-"+strconv.Itoa(int(seq.Add(1)%5000)), "")...)
						body = append(body, '\n')
					}
				} else {
					body = pre[seq.Add(1)]
				}
				req := "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: " + ct + "\r\nAuthorization: Bearer " + shopSecret + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
				conn.Write(append([]byte(req), body...))
				length := 0
				line, _ := br.ReadString('\n')
				if len(line) < 12 || line[9:12] != "202" {
					t.Errorf("status %q", line)
					return
				}
				for {
					l, _ := br.ReadString('\n')
					if l == "\r\n" {
						break
					}
					if bytes.HasPrefix([]byte(l), []byte("Content-Length: ")) {
						length, _ = strconv.Atoi(l[16 : len(l)-2])
					}
				}
				io.CopyN(io.Discard, br, int64(length))
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	t.Logf("CPU %.1f µs per request, %.2f cores", float64(cpu.Microseconds())/float64(n.Load()), cpu.Seconds()/5)
	t.Logf("%s: %d requests in 5s = %.0f/s", mode, n.Load(), float64(n.Load())/5)
}
