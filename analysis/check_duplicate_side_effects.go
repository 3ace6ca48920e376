package analysis

import (
	"fmt"
	"net/http"
	"time"
)

func init() { register(CheckDuplicateSideEffects, newDuplicateCheck) }

// duplicateCheck: an operation whose side effect the target executed more than once
// (executed=true on more than one attempt). One violation per operation; Totals
// counts the extra executions. It also gathers the idempotency-key hygiene of
// Report.Idempotency: POST operations retried with an attempt that carried no key, operations
// whose key changed between attempts, and keys reused (by one client) with different bodies.
type duplicateCheck struct {
	checkBase
	extra int64
	keys  []keyUse // direct-mapped by maphash of client and key
}

// keyUse is the last use of one client's idempotency key. Keys and bodies are kept as
// 64-bit hashes.
type keyUse struct {
	h       uint64 // 0 = empty
	body    uint64
	last    int64
	flagged bool
}

// keySlots is the size of the direct-mapped key memory: a key is forgotten when another
// lands in its slot or after keyWindow. A client that reuses keys wrongly does so again
// and again, so this bounded memory (2 MB, one access per lookup) still finds it.
const keySlots = 1 << 16

func newDuplicateCheck(cfg *Config) checker {
	c := &duplicateCheck{
		checkBase: newBase(cfg, CheckDuplicateSideEffects, "Never performs a side effect twice"),
		keys:      make([]keyUse, keySlots),
	}
	c.summary = "side effects the target executed per operation (at most one)"
	return c
}

func (c *duplicateCheck) base() *checkBase { return &c.checkBase }
func (c *duplicateCheck) hooks() hookSet   { return hookSet{attempt: true, opDone: true} }

// keyWindow is how long a key is remembered after its last use for the
// key_reused_across_bodies finding. A client that reuses keys wrongly does so again and
// again, so a short memory finds it and keeps the table small (it is looked up for every
// first use of a key).
const keyWindow = 10 * time.Second

// attempt tracks idempotency keys reused across bodies, remembering each key for
// keyWindow after its last use (or until another key takes its slot).
func (c *duplicateCheck) attempt(e *engine, op *opState, a *attempt) {
	if a.idemH == 0 {
		return
	}
	if n := len(op.attempts); n > 1 {
		// A retry with the key and body of the attempt before it needs no lookup.
		if p := &op.attempts[n-2]; p != a && p.idemH == a.idemH && p.bodyH == a.bodyH {
			return
		}
	}
	h := keyHash(a.idemH, op.client.hash)
	bh := e.cur.bodyH
	u := c.slot(h)
	switch {
	case u.h != h || u.last < e.now-int64(keyWindow):
		*u = keyUse{h: h, body: bh, last: a.time}
		return
	case u.body != bh && !u.flagged:
		u.flagged = true
		e.idem.KeyReusedAcrossBodies++
	}
	u.last = max(u.last, a.time)
}

// keyHash is the key memory's hash of an idempotency key (its maphash) used by a client
// (its clientState.hash); never 0, the mark of an empty slot.
func keyHash(idemH, clientHash uint64) uint64 { return idemH ^ clientHash | 1 }

// slot is where the key with hash h is remembered.
func (c *duplicateCheck) slot(h uint64) *keyUse { return &c.keys[h%keySlots] }

func (c *duplicateCheck) opDone(e *engine, op *opState) {
	executed := 0
	noKey, changed := false, false
	key := uint64(0) // keys are compared by their 64-bit hashes
	for i := range op.attempts {
		a := &op.attempts[i]
		if a.executed {
			executed++
		}
		if a.idemH == 0 {
			noKey = true
		} else if key == 0 {
			key = a.idemH
		} else if a.idemH != key {
			changed = true
		}
	}
	if len(op.attempts) > 1 {
		if noKey && op.method == http.MethodPost {
			e.idem.PostRetriedWithoutKey++
		}
		if changed {
			e.idem.KeyChangedOnRetry++
		}
	}
	if executed <= 1 {
		return
	}
	c.extra += int64(executed - 1)
	if !c.wantEvidence() {
		c.count()
		return
	}
	c.add(e.violation(op, fmt.Sprintf("the target executed the operation %d times", executed),
		"at most one execution per operation"))
}

func (c *duplicateCheck) finish(*engine) {}
