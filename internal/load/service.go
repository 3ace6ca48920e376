package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/retrylab/retrylab/internal/profile"
)

// ProxyURLEnv is the environment variable that tells the user's service where the fault
// proxy listens: the service must send its upstream calls there.
const ProxyURLEnv = "RETRYLAB_PROXY_URL"

// Bounds of the service's lifecycle (variables so tests can shorten them).
var (
	// ReadyTimeout bounds the wait for the service to answer.
	ReadyTimeout = 30 * time.Second
	// StopGrace is how long the service has to exit after SIGTERM before it is killed.
	StopGrace = 10 * time.Second
	// readyPoll is the period of readiness probes.
	readyPoll = 50 * time.Millisecond
)

// StartService starts the user's service for the client kind "service": spec.Command with
// RETRYLAB_PROXY_URL=proxyURL and spec.Env added to the environment, its output to out
// (nil = discarded). It returns once spec.URL + spec.Ready answers any HTTP response (with
// no Ready path: once spec.URL's port accepts connections), within ReadyTimeout. stop
// sends SIGTERM to the service's process group, waits StopGrace, then kills it; it
// returns an error when the service had to be killed or had exited by itself before.
// With no Command, nothing is started: the service is assumed to run already, and
// StartService only waits for it to be ready.
func StartService(ctx context.Context, spec profile.ClientUnderTest, proxyURL string, out io.Writer) (stop func() error, err error) {
	if spec.URL == "" {
		return nil, errors.New("service: no url")
	}
	u, err := url.Parse(spec.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("service: url %q is not a URL", spec.URL)
	}
	if len(spec.Command) == 0 {
		if err := waitReady(ctx, spec, u, nil); err != nil {
			return nil, err
		}
		return func() error { return nil }, nil
	}
	if out == nil {
		out = io.Discard
	}
	cmd := exec.Command(spec.Command[0], spec.Command[1:]...)
	cmd.Env = append(os.Environ(), ProxyURLEnv+"="+proxyURL)
	keys := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+spec.Env[k])
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = time.Second // do not wait forever for children holding the output pipe
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("service: start %s: %w", spec.Command[0], err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop = func() error {
		select {
		case <-exited:
			if waitErr != nil {
				return fmt.Errorf("service exited before the end of the run: %w", waitErr)
			}
			return errors.New("service exited before the end of the run")
		default:
		}
		_ = terminate(cmd)
		t := time.NewTimer(StopGrace)
		defer t.Stop()
		select {
		case <-exited:
			return nil
		case <-t.C:
		}
		_ = kill(cmd)
		<-exited
		return fmt.Errorf("service did not exit within %v of SIGTERM: killed", StopGrace)
	}
	if err := waitReady(ctx, spec, u, exited); err != nil {
		_ = stop()
		if waitErr != nil {
			return nil, fmt.Errorf("%w (service: %v)", err, waitErr)
		}
		return nil, err
	}
	return stop, nil
}

// waitReady polls the service until it answers, ReadyTimeout passes, ctx ends or the
// process exits.
func waitReady(ctx context.Context, spec profile.ClientUnderTest, u *url.URL, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	probe := func() bool {
		if spec.Ready == "" {
			host := u.Host
			if u.Port() == "" {
				port := "80"
				if u.Scheme == "https" {
					port = "443"
				}
				host = net.JoinHostPort(u.Hostname(), port)
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", host)
			if err != nil {
				return false
			}
			c.Close()
			return true
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, spec.URL+spec.Ready, nil)
		if err != nil {
			return false
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return true
	}
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for {
		if probe() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service: %s%s did not answer within %v: %w", spec.URL, spec.Ready, ReadyTimeout, ctx.Err())
		case <-exited:
			return errors.New("service: exited before it was ready")
		case <-tick.C:
		}
	}
}
