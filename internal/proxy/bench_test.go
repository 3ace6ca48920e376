package proxy

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/retrylab/retrylab/internal/journal"
)

// benchUpstream is a fast loopback target: fasthttp, a small JSON answer.
func benchUpstream(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"id":"call_1","status":"queued"}`)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}, NoDefaultServerHeader: true}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// benchProxy starts a proxy in front of upstream; journal on writes a real file.
func benchProxy(b *testing.B, upstream string, withJournal bool) string {
	b.Helper()
	return benchProxyWith(b, upstream, withJournal, false)
}

// benchProxyWith is benchProxy; noFastPath serves every request with fasthttp.
func benchProxyWith(b *testing.B, upstream string, withJournal, noFastPath bool) string {
	b.Helper()
	var jw *journal.Writer
	if withJournal {
		f, err := os.Create(filepath.Join(b.TempDir(), "journal.jsonl"))
		if err != nil {
			b.Fatal(err)
		}
		jw = journal.NewWriter(f)
		b.Cleanup(func() { _ = jw.Close(); _ = f.Close() })
	}
	p, err := New(Config{Target: "http://" + upstream, Journal: jw, Seed: 1, NoFastPath: noFastPath})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = p.Serve(ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return ln.Addr().String()
}

func benchRequest(req *fasthttp.Request, uri string) {
	req.SetRequestURI(uri)
	req.Header.SetMethod(fasthttp.MethodGet)
	req.Header.Set("Authorization", "Bearer sk_bench_key")
}

// BenchmarkPassThrough measures requests/s with keep-alive clients, side by side: straight
// to the target, through the proxy without a journal, and through the proxy with a journal
// on disk. Compare the req/s metrics of the three sub-benchmarks of one run.
func BenchmarkPassThrough(b *testing.B) {
	upstream := benchUpstream(b)
	cases := []struct {
		name      string
		addr      string
		uniqueOps bool // every request a new operation (X-Retrylab-Op), as loadgen sends them
	}{
		{"direct", upstream, false},
		{"proxy-journal-off", benchProxy(b, upstream, false), false},
		{"proxy-journal-on", benchProxy(b, upstream, true), false},
		{"proxy-journal-on-new-op-each", benchProxy(b, upstream, true), true},
	}
	var opSeq atomic.Uint64
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			hc := &fasthttp.HostClient{Addr: c.addr, MaxConns: 512}
			b.SetParallelism(16)
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				req := fasthttp.AcquireRequest()
				resp := fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				uri := "http://" + c.addr + "/v1/calls/call_1"
				var op []byte
				for pb.Next() {
					benchRequest(req, uri)
					if c.uniqueOps {
						op = strconv.AppendUint(append(op[:0], "op-"...), opSeq.Add(1), 10)
						req.Header.SetBytesV("X-Retrylab-Op", op)
					}
					if err := hc.Do(req, resp); err != nil || resp.StatusCode() != 200 {
						b.Errorf("status %d: %v", resp.StatusCode(), err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// BenchmarkLatencyAdded measures one request at a time in one process, alternating direct,
// through the proxy as loadgen run embeds it (journal on, every request on the fasthttp
// path) and through the proxy with its event loops (faultproxy's default), and reports the
// medians and the differences: the latency the proxy adds at p50. In one process the event
// loops, whose threads sleep in epoll_wait outside Go's scheduler, cost a thread wake-up per
// hop that the scheduler avoids; with the client and the target in other processes both
// paths pay the same wake-ups.
func BenchmarkLatencyAdded(b *testing.B) {
	upstream := benchUpstream(b)
	embedded := benchProxyWith(b, upstream, true, true)
	loops := benchProxyWith(b, upstream, true, false)
	direct := &fasthttp.HostClient{Addr: upstream, MaxConns: 1}
	via := &fasthttp.HostClient{Addr: embedded, MaxConns: 1}
	viaLoops := &fasthttp.HostClient{Addr: loops, MaxConns: 1}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	dl := make([]time.Duration, 0, b.N)
	pl := make([]time.Duration, 0, b.N)
	sl := make([]time.Duration, 0, b.N)
	do := func(hc *fasthttp.HostClient, uri string) time.Duration {
		benchRequest(req, uri)
		t0 := time.Now()
		if err := hc.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatalf("status %d: %v", resp.StatusCode(), err)
		}
		return time.Since(t0)
	}
	directURI, viaURI := "http://"+upstream+"/v1/calls/call_1", "http://"+embedded+"/v1/calls/call_1"
	loopsURI := "http://" + loops + "/v1/calls/call_1"
	do(direct, directURI)
	do(via, viaURI)
	do(viaLoops, loopsURI)
	b.ResetTimer()
	for range b.N {
		dl = append(dl, do(direct, directURI))
		pl = append(pl, do(via, viaURI))
		sl = append(sl, do(viaLoops, loopsURI))
	}
	b.StopTimer()
	p50 := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2]) / float64(time.Microsecond)
	}
	d, p, sp := p50(dl), p50(pl), p50(sl)
	b.ReportMetric(d, "direct-p50-µs")
	b.ReportMetric(p, "proxy-p50-µs")
	b.ReportMetric(p-d, "added-p50-µs")
	b.ReportMetric(sp-d, "added-event-loops-p50-µs")
}

// BenchmarkSideBySide interleaves the three modes in rounds of 2,000 requests (16 keep-alive
// clients) so that a change in background load hits all three alike, and reports each mode's
// requests/s and the ratios: proxy/direct and journal-on/journal-off (1 - the journal's cost).
func BenchmarkSideBySide(b *testing.B) {
	upstream := benchUpstream(b)
	modes := []struct {
		name string
		addr string
		hc   *fasthttp.HostClient
		n    int
		d    time.Duration
		cpu  time.Duration // process CPU (user+system): client, proxy and target together
	}{
		{name: "direct", addr: upstream},
		{name: "journal-off", addr: benchProxy(b, upstream, false)},
		{name: "journal-on", addr: benchProxy(b, upstream, true)},
	}
	for i := range modes {
		modes[i].hc = &fasthttp.HostClient{Addr: modes[i].addr, MaxConns: 64}
	}
	const round, workers = 2000, 16
	round1 := func(m int) {
		mode := &modes[m]
		uri := "http://" + mode.addr + "/v1/calls/call_1"
		jobs := make(chan struct{}, round)
		for range round {
			jobs <- struct{}{}
		}
		close(jobs)
		cpu0 := cpuTime()
		start := time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				req := fasthttp.AcquireRequest()
				resp := fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				for range jobs {
					benchRequest(req, uri)
					if err := mode.hc.Do(req, resp); err != nil || resp.StatusCode() != 200 {
						b.Errorf("%s: status %d: %v", mode.name, resp.StatusCode(), err)
						return
					}
				}
			})
		}
		wg.Wait()
		mode.d += time.Since(start)
		mode.cpu += cpuTime() - cpu0
		mode.n += round
	}
	for m := range modes {
		round1(m) // warm up connections
		modes[m].n, modes[m].d, modes[m].cpu = 0, 0, 0
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += 3 * round {
		for m := range modes {
			round1(m)
		}
	}
	b.StopTimer()
	rps := func(m int) float64 { return float64(modes[m].n) / modes[m].d.Seconds() }
	b.ReportMetric(rps(0), "direct-req/s")
	b.ReportMetric(rps(1), "journal-off-req/s")
	b.ReportMetric(rps(2), "journal-on-req/s")
	b.ReportMetric(rps(2)/rps(0), "proxy/direct")
	b.ReportMetric(rps(2)/rps(1), "journal-on/off")
	// CPU per request is steadier than wall-clock rates on a shared machine: the proxy's
	// cost is the difference from direct, the journal's the difference between on and off.
	cpu := func(m int) float64 { return float64(modes[m].cpu) / float64(modes[m].n) / 1e3 }
	b.ReportMetric(cpu(1)-cpu(0), "proxy-cpu-µs/req")
	b.ReportMetric(cpu(2)-cpu(1), "journal-cpu-µs/req")
	b.ReportMetric((cpu(2)-cpu(1))/(cpu(2)-cpu(0))*100, "journal-%-of-proxy-cpu")
}

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
