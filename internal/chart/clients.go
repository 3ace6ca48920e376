package chart

import (
	"fmt"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// maxClientsShown is how many clients (those with the highest peak rate) the clients
// chart draws.
const maxClientsShown = 6

// clientsFigure: each client's request rate over time against its published limit and
// burst; one panel per rate limit of the profile (requests matching it), else one panel
// over all requests with the limits the report publishes.
func clientsFigure(a *aggregator, in Input) (*figure, error) {
	tl := a.timeline()
	ylabel := "requests/s"
	if tl.group > 1 {
		ylabel = "requests/s (busiest second of each " + secondsLabel(tl.group) + ")"
	}
	panels := make([]*plot.Plot, len(a.rules))
	for i, r := range a.rules {
		title := "Requests per second per client — " + r.title
		switch n := len(r.limits); {
		case n == 1:
			title += fmt.Sprintf(" (limit %s/s, burst %s/s)", fmtRate(r.limits[0].limit), fmtRate(r.limits[0].burst))
		case n > 1:
			title += fmt.Sprintf(" (limits %s–%s/s)", fmtRate(r.limits[0].limit), fmtRate(r.limits[n-1].limit))
		}
		xl := ""
		if i == len(a.rules)-1 {
			xl = tl.xLabel()
		}
		panels[i] = newPanel(title, xl, ylabel)
	}
	f := newFigure(ChartClients, panels...)
	if a.records == 0 {
		for _, p := range panels {
			emptyPanel(p, "no attempts in the journal")
		}
		return f, nil
	}

	// The clients that came closest to (or went furthest over) a limit are the ones to see:
	// rank by the busiest second under any rule, then by volume.
	clients := make([]*clientSeries, 0, len(a.clients))
	peak := make(map[*clientSeries]int32, len(a.clients))
	for _, c := range a.clients {
		clients = append(clients, c)
		for _, s := range c.perSec {
			for _, v := range s {
				peak[c] = max(peak[c], v)
			}
		}
	}
	sort.Slice(clients, func(i, j int) bool {
		ci, cj := clients[i], clients[j]
		if peak[ci] != peak[cj] {
			return peak[ci] > peak[cj]
		}
		if ci.total != cj.total {
			return ci.total > cj.total
		}
		return ci.hash < cj.hash
	})
	hidden := 0
	if len(clients) > maxClientsShown {
		hidden = len(clients) - maxClientsShown
		clients = clients[:maxClientsShown]
	}
	names := clientNames(in)
	nb := tl.buckets()
	xs := make([]float64, nb)
	for b := range nb {
		xs[b] = tl.x(b)
	}
	thumbs := make([]plot.Thumbnailer, len(clients))
	var limitThumb, burstThumb plot.Thumbnailer
	for ri, r := range a.rules {
		p := panels[ri]
		p.Y.Min = 0
		for ci, c := range clients {
			xys := make(plotter.XYs, nb)
			s := c.perSec[ri]
			for b := range nb {
				i0, i1 := tl.secRange(b)
				var m int32
				for i := i0; i < i1 && i < len(s); i++ {
					m = max(m, s[i])
				}
				xys[b] = plotter.XY{X: xs[b], Y: float64(m)}
			}
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, fmt.Errorf("line: %w", err)
			}
			l.LineStyle = lineStyle(seriesColors[ci%len(seriesColors)], 1.3)
			p.Add(lean{l})
			if thumbs[ci] == nil {
				thumbs[ci] = l
			}
		}
		for _, lp := range r.limits {
			lim := &hline{y: lp.limit, style: lineStyle(colLimit, 1.3, 6, 3)}
			p.Add(lim)
			if limitThumb == nil {
				limitThumb = lim
			}
			if lp.burst > lp.limit {
				bu := &hline{y: lp.burst, style: lineStyle(colBurst, 1.3, 2, 2)}
				p.Add(bu)
				if burstThumb == nil {
					burstThumb = bu
				}
			}
		}
	}
	for ci, c := range clients {
		label := c.hash
		if n, ok := names[c.hash]; ok {
			label = n
		} else if label == "" {
			label = "(no API key)"
		}
		f.add(countLabel(label, c.total), thumbs[ci])
	}
	if limitThumb != nil {
		f.add("published limit", limitThumb)
	}
	if burstThumb != nil {
		f.add("burst allowance", burstThumb)
	}
	if a.untracked > 0 {
		f.add(fmt.Sprintf("+%s attempts of clients beyond the first %d", groupDigits(a.untracked), maxClients), &bands{})
	}
	if hidden > 0 {
		f.add("+"+strconv.Itoa(hidden)+" clients with lower peaks not drawn", &bands{})
	}
	return f, nil
}

// fmtRate formats a rate without useless decimals.
func fmtRate(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}
