package chart

import (
	"math"
	"strconv"

	"gonum.org/v1/plot"
)

// niceTicks places about n labelled ticks at 1, 2 or 5 × 10^k steps, with one unlabelled
// minor tick between them, and labels them without useless decimals.
type niceTicks struct{ n int }

// Ticks implements plot.Ticker.
func (t niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	n := t.n
	if n < 2 {
		n = 6
	}
	step := niceStep((hi - lo) / float64(n))
	prec := 0
	if step < 1 {
		prec = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	var ticks []plot.Tick
	first := math.Ceil(lo/step-1e-9) * step
	for v := first - step/2; v <= hi+step*1e-9; v += step / 2 {
		if v < lo-step*1e-9 {
			continue
		}
		k := math.Round(v / (step / 2))
		if int64(k)%2 != 0 {
			ticks = append(ticks, plot.Tick{Value: v})
			continue
		}
		val := k * step / 2
		if math.Abs(val) < step*1e-9 {
			val = 0
		}
		ticks = append(ticks, plot.Tick{Value: val, Label: formatTick(val, prec)})
	}
	return ticks
}

// niceStep rounds x up to 1, 2 or 5 × 10^k.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	mag := math.Pow10(int(math.Floor(math.Log10(x))))
	switch f := x / mag; {
	case f <= 1:
		return mag
	case f <= 2:
		return 2 * mag
	case f <= 5:
		return 5 * mag
	}
	return 10 * mag
}

// formatTick formats v with prec decimals and thousands separators for large integers.
func formatTick(v float64, prec int) string {
	if prec == 0 && math.Abs(v) >= 10000 && math.Abs(v) < 1e15 {
		return groupDigits(int64(v))
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// logTicks labels the powers of ten in range (with thousands separators) and puts minor
// ticks at 2–9 × each, for logarithmic axes.
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || lo <= 0 || math.IsInf(hi, 0) {
		return nil
	}
	var ticks []plot.Tick
	for e := int(math.Floor(math.Log10(lo))); e <= int(math.Ceil(math.Log10(hi))); e++ {
		base := math.Pow10(e)
		for m := 1; m <= 9; m++ {
			v := base * float64(m)
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 {
				prec := 0
				if e < 0 {
					prec = -e
				}
				t.Label = formatTick(v, prec)
				if e >= 3 {
					t.Label = groupDigits(int64(v))
				}
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}
