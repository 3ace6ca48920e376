package proxy

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/profile"
)

// TestResetSendsRST checks that the reset fault resets (SO_LINGER 0) on the first request of
// a connection too, which reaches fasthttp behind the fast path's wrapper on Linux.
func TestResetSendsRST(t *testing.T) {
	h := newHarness(t, &profile.Profile{Faults: []profile.Fault{{Name: "rst", Action: "reset", Match: profile.Match{Path: "/reset"}}}}, nil)
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /reset HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(c); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("got %v, want ECONNRESET", err)
	}
}
