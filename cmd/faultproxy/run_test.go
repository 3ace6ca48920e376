package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nfaults:\n  - name: x\n    action: explode\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	used := filepath.Join(dir, "used.jsonl")
	if err := os.WriteFile(used, []byte(`{"seq":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--nope"}, "unknown flag"},
		{"journal of another run", []string{"--listen", "127.0.0.1:0", "--journal", used}, "already holds records"},
		{"stray argument", []string{"extra"}, "unexpected argument"},
		{"listen off loopback", []string{"--listen", "0.0.0.0:8080"}, "loopback"},
		{"admin off loopback", []string{"--admin", "10.1.2.3:1"}, "loopback"},
		{"target off loopback", []string{"--target", "http://example.com"}, "loopback"},
		{"target not http", []string{"--target", "ftp://127.0.0.1"}, "want builtin"},
		{"metrics without admin", []string{"--metrics"}, "--metrics needs --admin"},
		{"missing profile", []string{"--profile", filepath.Join(dir, "none.yaml")}, "none.yaml"},
		{"invalid profile", []string{"--profile", bad}, "bad.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			code := exitCode(err, &stderr)
			if tt.name == "missing profile" {
				if code == 0 || !strings.Contains(stderr.String(), tt.want) {
					t.Errorf("exit %d, stderr %q", code, stderr.String())
				}
				return
			}
			if code != exitUsage || !strings.Contains(stderr.String(), "Error: ") || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--help"}, &stdout, &stderr)
	if code := exitCode(err, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, s := range []string{"Arguments:", "Options:", "Examples:", "--admin-token"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("usage lacks %q", s)
		}
	}
}

// TestRunBuiltinUntilSignal runs the proxy in front of the built-in target, sends one
// create, cancels the context (as SIGTERM does) and checks the exit and the journal.
func TestRunBuiltinUntilSignal(t *testing.T) {
	dir := t.TempDir()
	jpath := filepath.Join(dir, "journal.jsonl")
	prof := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(prof, []byte("version: 1\nname: t\nseed: 9\nduration: 10s\nload: {rate: 10/s}\nfaults:\n  - name: flaky\n    action: respond\n    status: 503\n    retry_after: 1s\n    attempts: [1]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuf{}, &syncBuf{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--profile", prof, "--journal", jpath}, stdout, stderr)
	}()
	var addr string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s := stdout.String(); strings.HasSuffix(s, "\n") {
			addr = strings.TrimSpace(s)
			break
		}
	}
	if addr == "" {
		t.Fatalf("no address printed; stderr %q", stderr.String())
	}
	for try, want := range []int{503, 201} {
		r, _ := http.NewRequest("POST", addr+"/v1/calls", strings.NewReader(`{"to_number":"+14155550100"}`))
		r.Header.Set("Authorization", "Bearer sk_test_1")
		r.Header.Set("X-Retrylab-Op", "op-1")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("try %d: status %d, want %d", try+1, resp.StatusCode, want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if code := exitCode(err, stderr); code != 0 {
			t.Fatalf("exit %d: %v", code, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	data, err := os.ReadFile(jpath)
	if err != nil {
		t.Fatal(err)
	}
	rd := journal.NewReader(bytes.NewReader(data), jpath)
	var recs []journal.Record
	for {
		var r journal.Record
		if err := rd.Next(&r); err != nil {
			break
		}
		recs = append(recs, r)
	}
	if len(recs) != 2 || recs[0].Rule != "flaky" || !recs[1].Executed || recs[1].Attempt != 2 {
		t.Fatalf("journal %+v", recs)
	}
	if bytes.Contains(data, []byte("sk_test_1")) {
		t.Error("API key in the journal")
	}
}
