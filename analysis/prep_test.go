package analysis

import (
	"fmt"
	"testing"

	"github.com/retrylab/retrylab/internal/journal"
)

// A converter hands out one attrs per combination of client, method, rule and action, however
// many combinations share its cache's slots, and copies their strings.
func TestConverterAttrsOnePerCombination(t *testing.T) {
	cfg := DefaultConfig().withDefaults()
	c := newPrep(&cfg, newEngine(&cfg, nil).seed).newConverter()
	rec := func(i int) *journal.Record {
		buf := []byte(fmt.Sprintf("k_%016d", i%500)) // a buffer the converter must not keep
		return &journal.Record{Client: string(buf), Method: []string{"GET", "POST"}[i%2],
			Action: []string{"forward", "respond", "rate_limit"}[i%3], Rule: fmt.Sprint("r", i%7)}
	}
	first := map[attrsKey]*attrs{}
	for i := range 20_000 { // 500×2×3×7 = 21,000 combinations, more than the cache's slots
		r := rec(i)
		a := c.attrs(r)
		k := attrsKey{r.Client, r.Method, r.Rule, r.Action}
		if p, ok := first[k]; ok && p != a {
			t.Fatalf("record %d: a second attrs for %+v", i, k)
		}
		first[k] = a
		if a.client != r.Client || a.method != r.Method || a.rule != r.Rule || a.action != r.Action {
			t.Fatalf("record %d: attrs %+v for %+v", i, a, k)
		}
	}
	for i := range 20_000 {
		r := rec(i)
		if a := c.attrs(r); a != first[attrsKey{r.Client, r.Method, r.Rule, r.Action}] {
			t.Fatalf("record %d seen again: another attrs", i)
		}
	}
}
