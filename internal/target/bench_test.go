package target

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// serveBench sends requests made by mk straight to the handler, in parallel.
func serveBench(b *testing.B, tg *Target, want int, mk func(i int) *http.Request) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			w := httptest.NewRecorder()
			tg.ServeHTTP(w, mk(i))
			if w.Code != want {
				b.Errorf("status %d, want %d: %s", w.Code, want, w.Body)
				return
			}
			i++
		}
	})
}

func createReq(key string) *http.Request {
	r := httptest.NewRequest("POST", "/v1/calls", strings.NewReader(callBody))
	r.Header.Set("Authorization", "Bearer sk_bench")
	r.Header.Set(HeaderIdempotencyKey, key)
	r.Header.Set("X-Retrylab-Op", key)
	return r
}

// BenchmarkCreate is a create with a fresh Idempotency-Key: the common path under load.
func BenchmarkCreate(b *testing.B) {
	tg := New(Options{})
	var n atomicCounter
	serveBench(b, tg, http.StatusCreated, func(int) *http.Request { return createReq(fmt.Sprint(n.next())) })
}

// BenchmarkReplay is a retry answered from the idempotency store.
func BenchmarkReplay(b *testing.B) {
	tg := New(Options{})
	w := httptest.NewRecorder()
	tg.ServeHTTP(w, createReq("same"))
	serveBench(b, tg, http.StatusCreated, func(int) *http.Request { return createReq("same") })
}

// BenchmarkGet reads an existing resource.
func BenchmarkGet(b *testing.B) {
	tg := New(Options{})
	w := httptest.NewRecorder()
	tg.ServeHTTP(w, createReq("k"))
	loc := w.Header().Get("Location")
	serveBench(b, tg, http.StatusOK, func(int) *http.Request {
		r := httptest.NewRequest("GET", loc, nil)
		r.Header.Set("Authorization", "Bearer sk_bench")
		return r
	})
}

type atomicCounter struct{ v atomic.Int64 }

func (c *atomicCounter) next() int64 { return c.v.Add(1) }
