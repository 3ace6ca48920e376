//go:build !amd64

package analysis

// prefetch is a no-op where no prefetch instruction is wired in.
func prefetch(uintptr) {}

// prefetchSpan is a no-op where no prefetch instruction is wired in.
func prefetchSpan(uintptr, uintptr) {}
