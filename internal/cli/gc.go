package cli

import (
	"os"
	"runtime/debug"
)

// Garbage collector settings for the commands. The analysis allocates little that lives
// long (the operations in flight) and a lot that dies young (each record's strings), so
// with Go's default (GOGC=100) the collector runs every few tens of megabytes and spends
// about a tenth of the analysis's CPU marking the same live operations again and again.
const (
	gcPercent   = 200       // collect when the heap has grown by twice its live size
	memoryLimit = 192 << 20 // but collect harder before the heap passes this
)

// TuneGC sets the collector for a command's process: GOGC=200 with a soft memory limit of
// 192 MiB, which keeps the analysis of a 5-million-record journal well within DESIGN.md's
// 256 MB.
// GOGC or GOMEMLIMIT in the environment win; library users of retrylab are not affected.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}
