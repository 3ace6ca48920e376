package proxy

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
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
	var jw *journal.Writer
	if withJournal {
		f, err := os.Create(filepath.Join(b.TempDir(), "journal.jsonl"))
		if err != nil {
			b.Fatal(err)
		}
		jw = journal.NewWriter(f)
		b.Cleanup(func() { _ = jw.Close(); _ = f.Close() })
	}
	p, err := New(Config{Target: "http://" + upstream, Journal: jw, Seed: 1})
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
		name string
		addr string
	}{
		{"direct", upstream},
		{"proxy-journal-off", benchProxy(b, upstream, false)},
		{"proxy-journal-on", benchProxy(b, upstream, true)},
	}
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
				for pb.Next() {
					benchRequest(req, uri)
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

// BenchmarkLatencyAdded measures one request at a time, alternating direct and through the
// proxy (journal on), and reports both medians and their difference: the latency the proxy
// adds at p50.
func BenchmarkLatencyAdded(b *testing.B) {
	upstream := benchUpstream(b)
	proxied := benchProxy(b, upstream, true)
	direct := &fasthttp.HostClient{Addr: upstream, MaxConns: 1}
	via := &fasthttp.HostClient{Addr: proxied, MaxConns: 1}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	dl := make([]time.Duration, 0, b.N)
	pl := make([]time.Duration, 0, b.N)
	do := func(hc *fasthttp.HostClient, addr string) time.Duration {
		benchRequest(req, "http://"+addr+"/v1/calls/call_1")
		t0 := time.Now()
		if err := hc.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatalf("status %d: %v", resp.StatusCode(), err)
		}
		return time.Since(t0)
	}
	do(direct, upstream)
	do(via, proxied)
	b.ResetTimer()
	for range b.N {
		dl = append(dl, do(direct, upstream))
		pl = append(pl, do(via, proxied))
	}
	b.StopTimer()
	p50 := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2]) / float64(time.Microsecond)
	}
	d, p := p50(dl), p50(pl)
	b.ReportMetric(d, "direct-p50-µs")
	b.ReportMetric(p, "proxy-p50-µs")
	b.ReportMetric(p-d, "added-p50-µs")
}
