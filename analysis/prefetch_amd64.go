package analysis

// prefetch asks the CPU to bring the cache line at addr closer, without waiting for it and
// without faulting: the engine's hot lookups are random accesses into tables larger than
// the cache, and the records a few places ahead say where they will land.
//
//go:noescape
func prefetch(addr uintptr)

// prefetchSpan is prefetch for every cache line of the size (> 0) bytes at addr.
//
//go:noescape
func prefetchSpan(addr, size uintptr)
