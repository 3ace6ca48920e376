package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func TestCoarseSkip(t *testing.T) {
	now := time.Now().UnixNano()
	far := now + int64(2*time.Minute)
	tests := []struct {
		name     string
		armed, t int64
		want     bool
	}{
		{"nothing armed", 0, far, false},
		{"cleared", far, 0, false},
		{"earlier deadline", far, far - 1, false},
		{"same deadline", far, far, true},
		{"later within slack", far, far + int64(deadlineSlack) - 1, true},
		{"later by the slack", far, far + int64(deadlineSlack), false},
		{"armed one about to fire", now + int64(deadlineSlack/2), now + int64(deadlineSlack/2) + 1, false},
		{"armed one expired", now - int64(time.Millisecond), now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := coarseSkip(tt.armed, tt.t); got != tt.want {
				t.Errorf("coarseSkip = %v, want %v", got, tt.want)
			}
		})
	}
}

// connPair returns a waitConn accepted through waitListener and the raw client end.
func connPair(t *testing.T) (*waitConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	wl := waitListener{ln}
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := wl.Accept()
		ch <- accepted{c, err}
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	wc, ok := a.c.(*waitConn)
	if !ok {
		t.Fatalf("Accept returned %T, want *waitConn", a.c)
	}
	t.Cleanup(func() { _ = wc.Close(); _ = client.Close() })
	return wc, client
}

// TestWaitConnRead checks that reads see every byte, in order, whether the previous read
// drained the socket or filled the buffer, and that the peer's close is io.EOF.
func TestWaitConnRead(t *testing.T) {
	tests := []struct {
		name   string
		writes []int // sizes the peer writes, with a pause between them
		bufLen int
	}{
		{"one small message", []int{40}, 4096},
		{"request response rounds", []int{100, 100, 100}, 4096},
		{"larger than the buffer", []int{50000}, 1024},
		{"mixed", []int{10, 9000, 1, 300}, 512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wc, client := connPair(t)
			var want []byte
			go func() {
				for i, n := range tt.writes {
					p := bytes.Repeat([]byte{byte('a' + i)}, n)
					if _, err := client.Write(p); err != nil {
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
				_ = client.Close()
			}()
			for i, n := range tt.writes {
				want = append(want, bytes.Repeat([]byte{byte('a' + i)}, n)...)
			}
			if err := wc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			var got []byte
			buf := make([]byte, tt.bufLen)
			for {
				n, err := wc.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("read after %d bytes: %v", len(got), err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Errorf("read %d bytes, want %d (or different content)", len(got), len(want))
			}
		})
	}
}

// TestWaitConnDeadlines checks that deadlines still fire as a net.Conn's do: a short one
// times out, a shortened one is applied, a cleared one lets a late write through.
func TestWaitConnDeadlines(t *testing.T) {
	tests := []struct {
		name      string
		set       func(c *waitConn) error
		peerAfter time.Duration // the peer writes after this; 0 = never
		wantErr   bool
		maxWait   time.Duration
	}{
		{
			name:    "short deadline fires",
			set:     func(c *waitConn) error { return c.SetReadDeadline(time.Now().Add(30 * time.Millisecond)) },
			wantErr: true, maxWait: 2 * time.Second,
		},
		{
			name: "shortened deadline applied",
			set: func(c *waitConn) error {
				if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
					return err
				}
				if err := c.SetReadDeadline(time.Now().Add(time.Minute + 100*time.Millisecond)); err != nil {
					return err
				}
				return c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
			},
			wantErr: true, maxWait: 2 * time.Second,
		},
		{
			name: "cleared deadline applied",
			set: func(c *waitConn) error {
				if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
					return err
				}
				return c.SetReadDeadline(time.Time{})
			},
			peerAfter: 100 * time.Millisecond, maxWait: 5 * time.Second,
		},
		{
			name: "SetDeadline covers reads",
			set: func(c *waitConn) error {
				if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
					return err
				}
				return c.SetDeadline(time.Now().Add(30 * time.Millisecond))
			},
			wantErr: true, maxWait: 2 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wc, client := connPair(t)
			if err := tt.set(wc); err != nil {
				t.Fatal(err)
			}
			if tt.peerAfter > 0 {
				timer := time.AfterFunc(tt.peerAfter, func() { _, _ = client.Write([]byte("late")) })
				defer timer.Stop()
			}
			start := time.Now()
			n, err := wc.Read(make([]byte, 64))
			if took := time.Since(start); took > tt.maxWait {
				t.Errorf("Read took %v", took)
			}
			if !tt.wantErr {
				if err != nil || n != 4 {
					t.Errorf("Read = %d, %v; want 4, nil", n, err)
				}
				return
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Read error %v, want a timeout", err)
			}
		})
	}
}

func TestNewWaitConnLeavesOthers(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := newWaitConn(a); got != a {
		t.Errorf("newWaitConn(pipe) = %T, want the pipe unchanged", got)
	}
}

func TestDialWait(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			_ = c.Close()
		}
	}()
	for _, timeout := range []time.Duration{0, 5 * time.Second} {
		c, err := dialWait(ln.Addr().String(), timeout)
		if err != nil {
			t.Fatalf("timeout %v: %v", timeout, err)
		}
		if _, ok := c.(*waitConn); !ok {
			t.Errorf("timeout %v: dialWait returned %T, want *waitConn", timeout, c)
		}
		_ = c.Close()
	}
}
