package load

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/profile"
)

// The test binary doubles as the user's service: with RETRYLAB_TEST_SERVICE set it listens
// on RETRYLAB_TEST_LISTEN and forwards every request to RETRYLAB_PROXY_URL, as a service
// pointed at the fault proxy would.
func TestMain(m *testing.M) {
	if os.Getenv("RETRYLAB_TEST_SERVICE") != "" {
		os.Exit(testService())
	}
	os.Exit(m.Run())
}

func testService() int {
	upstream := os.Getenv(ProxyURLEnv)
	if os.Getenv("RETRYLAB_TEST_IGNORE_TERM") != "" {
		signal.Ignore(syscall.SIGTERM)
	}
	ln, err := net.Listen("tcp", os.Getenv("RETRYLAB_TEST_LISTEN"))
	if err != nil {
		return 3
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, upstream+r.URL.Path, r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})}
	if os.Getenv("RETRYLAB_TEST_IGNORE_TERM") == "" {
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		go func() { <-term; srv.Close() }()
	}
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return 4
	}
	return 0
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func serviceSpec(t *testing.T, env map[string]string) profile.ClientUnderTest {
	addr := freeAddr(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// GORACE: a race-enabled binary otherwise sleeps 1s before it exits.
	e := map[string]string{"RETRYLAB_TEST_SERVICE": "1", "RETRYLAB_TEST_LISTEN": addr, "GORACE": "atexit_sleep_ms=0"}
	for k, v := range env {
		e[k] = v
	}
	return profile.ClientUnderTest{Kind: profile.KindService, URL: "http://" + addr, Command: []string{exe}, Env: e, Ready: "/healthz",
		Timeout: dur(5 * time.Second)}
}

// TestServiceRun starts the service, drives load through it to an upstream standing in for
// the proxy, and stops it.
func TestServiceRun(t *testing.T) {
	rc := newRecorder(t, nil)
	spec := serviceSpec(t, nil)
	var out syncBuffer
	stop, err := StartService(context.Background(), spec, rc.URL, &out)
	if err != nil {
		t.Fatalf("%v (service output %q)", err, out.String())
	}
	p := loadProfile(profile.LoadSpec{Shape: "constant", Rate: 40}, time.Second, "")
	p.Client = spec
	sum, err := Run(context.Background(), Config{Profile: p, BaseURL: spec.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// A stall of the shared machine may make the pacer drop an operation; every one sent
	// must have gone through the service to the upstream.
	if sum.Sent+sum.Dropped != 40 || sum.Dropped > 4 || sum.Succeeded != sum.Sent {
		t.Fatalf("summary %+v", sum)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if int64(len(rc.ops)) != sum.Sent {
		t.Fatalf("upstream saw %d operations through the service, want %d", len(rc.ops), sum.Sent)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(spec.URL, "http://"), 200*time.Millisecond); err == nil {
		t.Fatal("service still listening after stop")
	}
}

func TestServiceLifecycle(t *testing.T) {
	old := StopGrace
	StopGrace = 500 * time.Millisecond
	t.Cleanup(func() { StopGrace = old })
	tests := []struct {
		name      string
		env       map[string]string
		command   []string
		wantStart string // error substring; "" = starts
		wantStop  string // error substring of stop; "" = clean
	}{
		{name: "stops on SIGTERM"},
		{name: "killed when it ignores SIGTERM", env: map[string]string{"RETRYLAB_TEST_IGNORE_TERM": "1"}, wantStop: "killed"},
		{name: "exits before ready", env: map[string]string{"RETRYLAB_TEST_LISTEN": "256.0.0.1:1"}, wantStart: "exited before it was ready"},
		{name: "command not found", command: []string{"/nonexistent/retrylab-service"}, wantStart: "start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := serviceSpec(t, tc.env)
			if tc.command != nil {
				spec.Command = tc.command
			}
			stop, err := StartService(context.Background(), spec, "http://127.0.0.1:1", nil)
			if tc.wantStart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantStart) {
					t.Fatalf("start error %v, want %q", err, tc.wantStart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			err = stop()
			if tc.wantStop == "" && err != nil || tc.wantStop != "" && (err == nil || !strings.Contains(err.Error(), tc.wantStop)) {
				t.Fatalf("stop error %v, want %q", err, tc.wantStop)
			}
		})
	}
}

func TestServiceReadyTimeout(t *testing.T) {
	old := ReadyTimeout
	ReadyTimeout = 300 * time.Millisecond
	t.Cleanup(func() { ReadyTimeout = old })
	// Nothing listens there and no command starts anything.
	spec := profile.ClientUnderTest{Kind: profile.KindService, URL: "http://" + freeAddr(t)}
	start := time.Now()
	if _, err := StartService(context.Background(), spec, "http://127.0.0.1:1", nil); err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("error %v, want a readiness timeout", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %v", el)
	}
}
