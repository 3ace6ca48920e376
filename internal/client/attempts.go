package client

import (
	"context"
	"net/http"
	"sync/atomic"
)

// AttemptCounter counts the attempts of one operation as the client made them. Put one in
// a request's context with WithAttemptCounter: the reference clients, and any transport
// wrapped by CountAttempts, add one per attempt they send.
type AttemptCounter struct{ n atomic.Int64 }

// Add counts one attempt.
func (c *AttemptCounter) Add() { c.n.Add(1) }

// Load returns the attempts counted so far.
func (c *AttemptCounter) Load() int64 { return c.n.Load() }

type counterKey struct{}

// WithAttemptCounter returns ctx carrying c.
func WithAttemptCounter(ctx context.Context, c *AttemptCounter) context.Context {
	return context.WithValue(ctx, counterKey{}, c)
}

func attemptCounterFrom(ctx context.Context) *AttemptCounter {
	c, _ := ctx.Value(counterKey{}).(*AttemptCounter)
	return c
}

// CountAttempts wraps the transport a user's retrying client sends its attempts through,
// so that each attempt is counted in the AttemptCounter of the request's context.
func CountAttempts(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return countingTransport{rt}
}

type countingTransport struct{ base http.RoundTripper }

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if c := attemptCounterFrom(req.Context()); c != nil {
		c.Add()
	}
	return t.base.RoundTrip(req)
}
