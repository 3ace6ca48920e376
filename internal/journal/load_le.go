//go:build 386 || amd64 || arm64 || loong64 || ppc64le || wasm

package journal

import "unsafe"

// ld64 returns the eight bytes of p at i as a little-endian word, without bounds checks:
// the caller has checked 0 <= i <= len(p)-8. On a little-endian machine that allows
// unaligned loads this is one load, where binary.LittleEndian.Uint64(p[i:]) would check i
// against len(p) twice; the decoder makes some sixty such loads per record.
func ld64(p []byte, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(p)), i))
}
