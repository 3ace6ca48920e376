package load

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress writes the live progress of a run: on a terminal one line redrawn with \r every
// 250 ms, elsewhere (a log, a CI console) a plain line every period.
type progress struct {
	w      io.Writer
	tty    bool
	every  time.Duration
	pacer  *Pacer
	st     *stats
	extra  func() string
	quit   chan struct{}
	wg     sync.WaitGroup
	t0     time.Time
	width  int
	mu     sync.Mutex
	active bool
}

func newProgress(w io.Writer, every time.Duration, p *Pacer, st *stats, extra func() string) *progress {
	pr := &progress{w: w, every: every, pacer: p, st: st, extra: extra, quit: make(chan struct{})}
	if w == nil {
		return pr
	}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			pr.tty = true
		}
	}
	if pr.every <= 0 {
		pr.every = 5 * time.Second
	}
	if pr.tty {
		pr.every = 250 * time.Millisecond
	}
	return pr
}

func (pr *progress) start(t0 time.Time) {
	if pr.w == nil {
		return
	}
	pr.t0 = t0
	pr.active = true
	pr.wg.Add(1)
	go func() {
		defer pr.wg.Done()
		tick := time.NewTicker(pr.every)
		defer tick.Stop()
		for {
			select {
			case <-pr.quit:
				return
			case <-tick.C:
				pr.print(pr.line(time.Since(pr.t0)))
			}
		}
	}()
}

// line renders the progress at elapsed.
func (pr *progress) line(elapsed time.Duration) string {
	d := pr.pacer.Duration()
	sent := pr.st.sent.Load()
	var b strings.Builder
	fmt.Fprintf(&b, "load %s/%s  %.0f/s planned  done %d  ok %d  failed %d  dropped %d",
		min(elapsed, d).Truncate(time.Second), d, pr.pacer.Rate(elapsed), sent,
		pr.st.ok.Load(), pr.st.failed.Load(), pr.pacer.Dropped())
	if elapsed > d {
		b.WriteString("  draining")
	}
	if pr.extra != nil {
		if x := pr.extra(); x != "" {
			b.WriteString("  | ")
			b.WriteString(x)
		}
	}
	return b.String()
}

func (pr *progress) print(s string) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.tty {
		pad := ""
		if n := pr.width - len(s); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		pr.width = len(s)
		fmt.Fprint(pr.w, "\r"+s+pad)
		return
	}
	fmt.Fprintln(pr.w, s)
}

func (pr *progress) stop() {
	if !pr.active {
		return
	}
	close(pr.quit)
	pr.wg.Wait()
}

// final writes the summary line (and ends the terminal line).
func (pr *progress) final(s *Summary) {
	if pr.w == nil {
		return
	}
	state := "done"
	if s.Interrupted {
		state = "interrupted"
	}
	line := fmt.Sprintf("load %s in %s: planned %d  sent %d  ok %d  failed %d  dropped %d  %.1f/s",
		state, s.Duration.Round(time.Millisecond), s.Planned, s.Sent, s.Succeeded, s.Failed, s.Dropped, s.Rate)
	pr.print(line)
	if pr.tty {
		fmt.Fprintln(pr.w)
	}
}
