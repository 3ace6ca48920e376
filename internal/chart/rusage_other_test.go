//go:build !unix

package chart

// cpuTime is unknown on this platform.
func cpuTime() (int64, bool) { return 0, false }
