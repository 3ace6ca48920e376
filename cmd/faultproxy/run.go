package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/retrylab/retrylab/internal/cli"
	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
	"github.com/retrylab/retrylab/internal/proxy"
	"github.com/retrylab/retrylab/internal/target"
	"github.com/retrylab/retrylab/internal/version"
)

// exitUsage is the status of bad usage (DESIGN.md); cli.ExitCode maps errors to statuses.
const exitUsage = cli.ExitUsage

const usage = `faultproxy: a fault-injecting, rate-limiting reverse proxy that journals every attempt.

Usage:
  faultproxy [options]

Arguments:
  none; everything is an option. Without --profile the proxy passes every request through
  (no rules, no limits) and only journals.

Options:
  --listen ADDR         address to serve the proxied API on (default 127.0.0.1:8080; loopback only)
  --target URL|builtin  upstream: an http:// URL on loopback, or "builtin" for the in-process
                        mock of the seeds' API (default builtin)
  --profile FILE        profile whose faults, rate_limits, clients, proxy and builtin sections apply
  --journal FILE        append one JSON line per attempt to FILE ("-" = stdout; default: no journal)
  --seed N              seed of every random decision (default: the profile's seed)
  --admin ADDR          serve the admin API (rules, reset, stats) on ADDR (loopback only)
  --admin-token T       require "Authorization: Bearer T" on the admin API
  --metrics             also serve Prometheus metrics at /metrics on the admin address
  --no-fast-path        serve every connection with fasthttp (by default, on Linux, requests
                        no fault rule or rate limit can apply to run on epoll event loops)
  -h, --help            show this help
  --version             print the version

Examples:
  # pass-through with a journal, in front of the built-in target
  faultproxy --journal journal.jsonl

  # the seeds' limits and lost responses in front of your own service on port 9000
  faultproxy --target http://127.0.0.1:9000 --profile profiles/lost-responses.yaml \
      --journal journal.jsonl --seed 7

  # change the rules while it runs
  faultproxy --profile profiles/outage.yaml --admin 127.0.0.1:8081 --metrics
  curl -X POST 127.0.0.1:8081/rules/outage/disable

Exit status:
  0 stopped by SIGINT/SIGTERM   2 bad usage or invalid profile   3 runtime failure
`

var (
	usageErrorf = cli.Usagef
	errHelp     = cli.ErrHelp
	exitCode    = cli.ExitCode
)

type options struct {
	listen, target, profile, journal string
	seed                             int64
	admin, adminToken                string
	metrics, help, version           bool
	noFastPath                       bool
}

func parseFlags(args []string, stderr io.Writer) (*options, *pflag.FlagSet, error) {
	o := &options{}
	fs := pflag.NewFlagSet("faultproxy", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "")
	fs.StringVar(&o.target, "target", "builtin", "")
	fs.StringVar(&o.profile, "profile", "", "")
	fs.StringVar(&o.journal, "journal", "", "")
	fs.Int64Var(&o.seed, "seed", 0, "")
	fs.StringVar(&o.admin, "admin", "", "")
	fs.StringVar(&o.adminToken, "admin-token", "", "")
	fs.BoolVar(&o.metrics, "metrics", false, "")
	fs.BoolVar(&o.noFastPath, "no-fast-path", false, "")
	fs.BoolVarP(&o.help, "help", "h", false, "")
	fs.BoolVar(&o.version, "version", false, "")
	if err := fs.Parse(args); err != nil {
		fmt.Fprint(stderr, usage)
		return nil, nil, usageErrorf("%v", err)
	}
	if fs.NArg() > 0 {
		return nil, nil, usageErrorf("unexpected argument %q (see 'faultproxy --help')", fs.Arg(0))
	}
	return o, fs, nil
}

// loopbackAddr checks that a listen address is on loopback.
func loopbackAddr(flag, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--%s %q: %v", flag, addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return usageErrorf("--%s %q: retrylab listens on loopback only (127.0.0.0/8, ::1)", flag, addr)
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, fs, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.help {
		fmt.Fprint(stdout, usage)
		return errHelp
	}
	if o.version {
		fmt.Fprintln(stdout, "faultproxy", version.Version)
		return nil
	}
	if err := loopbackAddr("listen", o.listen); err != nil {
		return err
	}
	if o.admin != "" {
		if err := loopbackAddr("admin", o.admin); err != nil {
			return err
		}
	}
	if o.metrics && o.admin == "" {
		return usageErrorf("--metrics needs --admin ADDR: metrics are served on the admin address")
	}
	if o.adminToken != "" && o.admin == "" {
		return usageErrorf("--admin-token needs --admin ADDR")
	}
	if o.target != "builtin" {
		u, err := url.Parse(o.target)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return usageErrorf("--target %q: want builtin or an http:// URL", o.target)
		}
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return usageErrorf("--target %q: the proxy forwards only to loopback (127.0.0.0/8, ::1)", o.target)
		}
	}
	if o.journal != "" && o.journal == o.profile {
		return usageErrorf("--journal and --profile name the same file")
	}

	var prof *profile.Profile
	if o.profile != "" {
		if prof, err = profile.LoadRules(o.profile); err != nil {
			return err
		}
	}
	seed := o.seed
	if !fs.Changed("seed") && prof != nil {
		seed = prof.Seed
	}
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, "faultproxy: "+format+"\n", args...) }

	// The built-in target.
	targetURL := o.target
	var onReset func()
	if o.target == "builtin" {
		opts := target.FromProfile(prof)
		if prof == nil {
			opts.Seed = seed
		}
		tg := target.New(opts)
		onReset = tg.Reset
		tln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("built-in target: %w", err)
		}
		tsrv := &http.Server{Handler: tg, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = tsrv.Serve(tln) }()
		defer tsrv.Close()
		targetURL = "http://" + tln.Addr().String()
	}

	// The journal.
	var jw *journal.Writer
	if o.journal != "" {
		var dst io.Writer = stdout
		if o.journal != "-" {
			// A journal is one proxy run (seq counts from 1): never append a second run to
			// records already there, and never truncate them.
			if fi, err := os.Stat(o.journal); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
				return usageErrorf("--journal %s already holds records of another run: choose a new file or remove it", o.journal)
			}
			f, err := os.OpenFile(o.journal, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				return fmt.Errorf("open journal: %w", err)
			}
			defer f.Close()
			dst = f
		}
		jw = journal.NewWriter(dst)
	}

	p, err := proxy.New(proxy.Config{Target: targetURL, Profile: prof, Journal: jw, Seed: seed,
		Logf: logf, AdminToken: o.adminToken, OnReset: onReset, NoFastPath: o.noFastPath})
	if err != nil {
		if jw != nil {
			_ = jw.Close()
		}
		return usageErrorf("%v", err)
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		if jw != nil {
			_ = jw.Close()
		}
		return fmt.Errorf("listen: %w", err)
	}
	var adminSrv *http.Server
	if o.admin != "" {
		aln, err := net.Listen("tcp", o.admin)
		if err != nil {
			ln.Close()
			if jw != nil {
				_ = jw.Close()
			}
			return fmt.Errorf("admin listen: %w", err)
		}
		h := p.AdminHandler()
		if !o.metrics {
			h = withoutMetrics(h)
		}
		adminSrv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = adminSrv.Serve(aln) }()
		logf("admin API on http://%s", aln.Addr())
	}
	logf("proxying http://%s -> %s (seed %d)", ln.Addr(), targetURL, seed)
	if o.journal != "-" {
		fmt.Fprintf(stdout, "http://%s\n", ln.Addr())
	}

	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}

	sctx, cancel := context.WithTimeout(context.Background(), proxy.ShutdownGrace)
	defer cancel()
	shutErr := p.Shutdown(sctx)
	if serveErr == nil {
		serveErr = <-served
	}
	if adminSrv != nil {
		_ = adminSrv.Shutdown(sctx)
	}
	var jerr error
	if jw != nil {
		jerr = jw.Close()
		logf("journal: %d records", jw.Count())
	}
	return errors.Join(serveErr, shutErr, jerr)
}

// withoutMetrics hides /metrics when --metrics was not given.
func withoutMetrics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimSuffix(r.URL.Path, "/") == "/metrics" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"metrics are off (start with --metrics)","status":404}`+"\n")
			return
		}
		h.ServeHTTP(w, r)
	})
}
