// Command benchupstream is the upstream of scripts/bench-proxy.sh: a minimal fasthttp
// server on a loopback address that answers every request with 200 and a small JSON body,
// so that neither nginx nor faultproxy in front of it is measured against a slow target.
//
// Usage:
//
//	benchupstream [--listen 127.0.0.1:18081]
//
// It serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"github.com/valyala/fasthttp"
)

// body is the answer to every request: the size of a typical small API response.
var body = []byte(`{"id":"call_1","object":"call","status":"queued","created":1700000000}` + "\n")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("benchupstream", pflag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:18081", "loopback address to serve on")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("flags: %w", err)
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", *listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %q: loopback addresses only", *listen)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &fasthttp.Server{
		Handler:               handle,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
	}
	fmt.Fprintf(stdout, "http://%s\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		if err := srv.Shutdown(); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	case err := <-done:
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	}
}

func handle(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.SetBodyRaw(body)
}
