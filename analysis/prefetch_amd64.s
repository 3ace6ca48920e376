#include "textflag.h"

// func prefetch(addr uintptr)
TEXT ·prefetch(SB), NOSPLIT, $0-8
	MOVQ addr+0(FP), AX
	PREFETCHT0 (AX)
	RET

// func prefetchSpan(addr, size uintptr)
TEXT ·prefetchSpan(SB), NOSPLIT, $0-16
	MOVQ addr+0(FP), AX
	MOVQ size+8(FP), CX
	LEAQ -1(AX)(CX*1), DX // the last byte
	ANDQ $~63, AX         // the first line
loop:
	PREFETCHT0 (AX)
	ADDQ $64, AX
	CMPQ AX, DX
	JLS  loop
	RET
