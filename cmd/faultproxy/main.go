// Command faultproxy runs retrylab's fault proxy on its own, in front of a loopback target
// or the built-in one: it injects the profile's faults and rate limits and journals every
// attempt, so any client, in any language, can be judged with `loadgen analyze`.
//
// Exit status: 0 after a clean SIGINT/SIGTERM, 2 bad usage or invalid profile, 3 a runtime
// failure.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}
