package ratelimit

import (
	"fmt"
	"sync"
	"time"
)

// MaxPolicies is the number of policies a Set holds at most.
const MaxPolicies = 64

// DefaultMaxClients bounds the clients a Set tracks; past it the Set forgets every client
// (their windows restart empty with full credit).
const DefaultMaxClients = 100_000

// Set holds one Limiter per (policy, client). A request names the policies that apply to
// it as a bit mask and passes only if every one of them admits it; then it is admitted by
// all of them, so a rejected request consumes nothing. Set is safe for concurrent use and
// starts no goroutine.
type Set struct {
	mu         sync.Mutex
	policies   []*Policy
	clients    map[string]*[MaxPolicies]*Limiter
	MaxClients int
}

// NewSet returns a Set over policies.
func NewSet(policies []*Policy) (*Set, error) {
	if len(policies) > MaxPolicies {
		return nil, fmt.Errorf("%w: %d rate limits, at most %d", ErrConfig, len(policies), MaxPolicies)
	}
	return &Set{policies: policies, clients: map[string]*[MaxPolicies]*Limiter{}, MaxClients: DefaultMaxClients}, nil
}

// Policies returns the Set's policies, in order.
func (s *Set) Policies() []*Policy { return s.policies }

// Allow decides a request of client at now against the policies whose bit is set in mask.
// It returns the deciding policy's index (-1 when mask selects none) and its Decision:
// when rejected, the policy whose RetryAt is latest (the instant at which every policy
// admits again); when admitted, the policy with the fewest requests remaining.
func (s *Set) Allow(client string, mask uint64, now time.Time) (int, Decision) {
	if mask == 0 {
		return -1, Decision{Allowed: true, RetryAt: now, Reset: now}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ls := s.clients[client]
	if ls == nil {
		if s.MaxClients > 0 && len(s.clients) >= s.MaxClients {
			clear(s.clients)
		}
		ls = new([MaxPolicies]*Limiter)
		s.clients[client] = ls
	}
	idx, worst := -1, Decision{Allowed: true}
	for i, p := range s.policies {
		if mask&(1<<uint(i)) == 0 {
			continue
		}
		l := ls[i]
		if l == nil {
			l = NewLimiter(p)
			ls[i] = l
		}
		d := l.Check(now)
		switch {
		case idx < 0:
			idx, worst = i, d
		case !d.Allowed && (worst.Allowed || d.RetryAt.After(worst.RetryAt)):
			idx, worst = i, d
		case d.Allowed && worst.Allowed && d.Remaining < worst.Remaining:
			idx, worst = i, d
		}
	}
	if !worst.Allowed {
		return idx, worst
	}
	first := true
	for i := range s.policies {
		if mask&(1<<uint(i)) == 0 {
			continue
		}
		d := ls[i].Admit(now)
		if first || d.Remaining < worst.Remaining {
			idx, worst, first = i, d, false
		}
	}
	return idx, worst
}

// Reset forgets every client.
func (s *Set) Reset() {
	s.mu.Lock()
	clear(s.clients)
	s.mu.Unlock()
}

// Clients returns the number of clients tracked.
func (s *Set) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}
