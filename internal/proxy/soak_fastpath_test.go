//go:build soak && linux

package proxy

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/profile"
	"github.com/retrylab/retrylab/internal/target"
)

// TestSoakEventLoops drives the event loops with keep-alive clients that pipeline, send
// bodies, vanish mid-request, and meet a rule switched on and off while they run, and checks
// that every answered request has its record, that nothing is journaled twice, and that the
// executed records equal the built-in target's ledger. Run with:
// go test -tags soak -run SoakEventLoops ./internal/proxy
func TestSoakEventLoops(t *testing.T) {
	tg := target.New(target.FromProfile(&profile.Profile{}))
	h := newHarness(t, nil, tg)
	const workers, perWorker = 24, 400
	var sent, answered, aborted atomic.Int64
	stop := make(chan struct{})
	var toggles sync.WaitGroup
	toggles.Go(func() { // a rule that comes and goes: connections are handed over mid-run
		on := false
		for {
			select {
			case <-stop:
				return
			case <-time.After(15 * time.Millisecond):
			}
			if !on {
				_ = h.p.AddRule(profile.Fault{Name: "flap", Action: profile.FaultRespond, Status: 503,
					Match: profile.Match{Path: "/v1/calls/none"}})
			} else {
				_ = h.p.updateRules("flap", func(rs []*rule, i int) []*rule { return append(rs[:i], rs[i+1:]...) })
			}
			on = !on
		}
	})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var c net.Conn
			var rc *rawConn
			for i := 0; i < perWorker; {
				if c == nil {
					var err error
					if c, err = net.Dial("tcp", h.addr); err != nil {
						t.Error(err)
						return
					}
					_ = c.SetDeadline(time.Now().Add(30 * time.Second))
					rc = &rawConn{t: t, c: c, r: newReader(c)}
				}
				n := 1 + rng.IntN(3) // pipelined requests in one write
				var b strings.Builder
				methods := make([]string, 0, n)
				for k := 0; k < n && i < perWorker; k++ {
					head := fmt.Sprintf("Host: 127.0.0.1\r\nX-Api-Key: key-%d\r\nX-Retrylab-Op: op-%d-%d\r\n", w%4, w, i)
					if i%2 == 0 {
						body := `{"to_number":"+14155550100"}`
						fmt.Fprintf(&b, "POST /v1/calls HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s", head, len(body), body)
						methods = append(methods, "POST")
					} else {
						fmt.Fprintf(&b, "GET /v1/calls/none HTTP/1.1\r\n%s\r\n", head)
						methods = append(methods, "GET")
					}
					i++
				}
				sent.Add(int64(len(methods)))
				if _, err := c.Write([]byte(b.String())); err != nil {
					t.Error(err)
					return
				}
				if rng.IntN(20) == 0 { // gone before the answers: they are still journaled
					aborted.Add(int64(len(methods)))
					c.Close()
					c = nil
					continue
				}
				for _, m := range methods {
					resp, err := readResponse(rc.r, m)
					if err != nil {
						t.Errorf("worker %d: %v", w, err)
						return
					}
					answered.Add(1)
					if resp.Close {
						c.Close()
						c = nil
						break
					}
				}
			}
			if c != nil {
				c.Close()
			}
		})
	}
	wg.Wait()
	close(stop)
	toggles.Wait()
	time.Sleep(200 * time.Millisecond) // requests of vanished clients finish at the upstream
	recs := h.records()
	seen := map[string]int{}
	executed := 0
	for _, r := range recs {
		seen[r.Method+" "+r.Op]++
		if r.Executed {
			executed++
		}
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("%s journaled %d times", k, n)
		}
	}
	if got := int64(len(recs)); got < answered.Load() || got > sent.Load() {
		t.Errorf("%d records: %d requests sent, %d answered, %d sent by clients that left", got, sent.Load(), answered.Load(), aborted.Load())
	}
	if l := tg.Ledger(); int64(executed) != l.Executions {
		t.Errorf("journal says %d executed, the ledger %d", executed, l.Executions)
	}
	t.Logf("%d sent, %d answered, %d records, %d executed, stats %+v", sent.Load(), answered.Load(), len(recs), executed, h.p.Stats())
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

func readResponse(r *bufio.Reader, method string) (*http.Response, error) {
	resp, err := http.ReadResponse(r, &http.Request{Method: method})
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}
