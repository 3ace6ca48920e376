//go:build !(386 || amd64 || arm64 || loong64 || ppc64le || wasm)

package journal

import "encoding/binary"

// ld64 returns the eight bytes of p at i as a little-endian word (0 <= i <= len(p)-8).
func ld64(p []byte, i int) uint64 { return binary.LittleEndian.Uint64(p[i:]) }
