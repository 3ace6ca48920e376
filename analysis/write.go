package analysis

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// ReadReport decodes a report.json.
func ReadReport(r io.Reader) (*Report, error) {
	var rep Report
	dec := json.NewDecoder(r)
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	if rep.Metrics == nil {
		rep.Metrics = map[string]float64{}
	}
	return &rep, nil
}

// WriteJSON writes the report as indented JSON (report.json).
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write report json: %w", err)
	}
	return nil
}

// errWriter remembers the first write error so report writers can write freely.
type errWriter struct {
	w   io.Writer
	err error
}

func (ew *errWriter) printf(format string, args ...any) {
	if ew.err == nil {
		_, ew.err = fmt.Fprintf(ew.w, format, args...)
	}
}

func verdictWord(r *Report) string {
	if r.Verdict == "pass" {
		return "PASS"
	}
	return "FAIL"
}

func passWord(ok bool) string {
	if ok {
		return "pass"
	}
	return "FAIL"
}

// mdEscape makes s safe inside a Markdown table cell.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// mdCode makes s safe inside a code span of a Markdown table cell: entities are not decoded
// there, so only the cell separator and newlines are escaped.
func mdCode(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "`", "'").Replace(s)
}

func runLine(r *Report) string {
	var parts []string
	if r.Run.Profile != "" {
		parts = append(parts, "profile **"+mdEscape(r.Run.Profile)+"**")
	}
	if r.Run.Client != "" {
		parts = append(parts, "client `"+r.Run.Client+"`")
	}
	parts = append(parts, fmt.Sprintf("seed %d", r.Run.Seed))
	parts = append(parts, fmt.Sprintf("%d records", r.Run.Records))
	parts = append(parts, fmt.Sprintf("%.1f s of traffic", r.Run.DurationS))
	if r.Partial {
		parts = append(parts, "**partial run**")
	}
	return strings.Join(parts, " · ")
}

// WriteMarkdown writes report.md: a verdict banner, the checks, the gates, the totals and
// the first evidence of every failing check. It fits a GitHub Actions job summary.
func WriteMarkdown(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	icon := "✅"
	if r.Verdict != "pass" {
		icon = "❌"
	}
	ew.printf("## %s retrylab: %s\n\n%s\n\n", icon, verdictWord(r), runLine(r))
	ew.printf("### Checks\n\n| check | violations | result | what was measured |\n|---|---:|---|---|\n")
	for _, c := range r.Checks {
		ew.printf("| `%s` | %d | %s | %s |\n", c.ID, c.Violations, passWord(c.Passed), mdEscape(c.Summary))
	}
	ew.printf("\n### Gates\n\n| gate | value | result | from |\n|---|---:|---|---|\n")
	for _, g := range r.Gates {
		ew.printf("| `%s` | %s | %s | %s |\n", mdCode(g.Expr), fmtValue(g.Value), passWord(g.Passed), g.Source)
	}
	t := r.Totals
	ew.printf("\n### Totals\n\n| operations | attempts | retries | success rate | abandoned | attempts/op | rate limited | faults | side effects | latency p50 | latency p99 |\n")
	ew.printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	ew.printf("| %d | %d | %d | %.2f%% | %d | %.2f | %d | %d | %d | %s ms | %s ms |\n",
		t.Operations, t.Attempts, t.Retries, 100*t.SuccessRate, t.Abandoned, t.AttemptsPerOp,
		t.RateLimited, t.Faults, t.SideEffects, fmtValue(r.Latency.P50), fmtValue(r.Latency.P99))
	if t.Cut > 0 {
		ew.printf("\n%s\n", cutNote(t.Cut))
	}
	if len(r.Clients) > 0 {
		ew.printf("\n### Clients\n\n| client | operations | attempts | rate limited | peak /s | limit /s | burst /s |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for i, c := range r.Clients {
			if i == 20 {
				ew.printf("| … %d more | | | | | | |\n", len(r.Clients)-20)
				break
			}
			ew.printf("| %s | %d | %d | %d | %s | %s | %s |\n", mdEscape(clientLabel(c)), c.Operations, c.Attempts,
				c.RateLimited, fmtValue(c.PeakRate), fmtValue(c.Limit), fmtValue(c.Burst))
		}
	}
	id := r.Idempotency
	if id.PostRetriedWithoutKey+id.KeyChangedOnRetry+id.KeyReusedAcrossBodies > 0 {
		ew.printf("\n### Idempotency keys\n\n| POST retried without a key | key changed on retry | key reused across bodies |\n|---:|---:|---:|\n| %d | %d | %d |\n",
			id.PostRetriedWithoutKey, id.KeyChangedOnRetry, id.KeyReusedAcrossBodies)
	}
	first := true
	for _, c := range r.Checks {
		if c.Passed || len(c.Evidence) == 0 {
			continue
		}
		if first {
			ew.printf("\n### Evidence\n")
			first = false
		}
		v := c.Evidence[0]
		ew.printf("\n**`%s`** (%s): %s  \nexpected: %s", c.ID, plural(c.Violations, "violation"), mdEscape(v.Message), mdEscape(v.Expected))
		if v.Client != "" || v.Op != "" {
			ew.printf("  \nclient `%s`, operation `%s`", v.Client, v.Op)
		}
		ew.printf("\n")
		if len(v.Attempts) > 0 {
			ew.printf("\n| seq | time | +ms | attempt | request | status | action | rule | retry-after |\n|---:|---|---:|---:|---|---:|---|---|---:|\n")
			for _, a := range v.Attempts {
				ew.printf("| %d | %s | %d | %d | %s %s | %d | %s | %s | %s |\n", a.Seq, a.Time, a.OffsetMs, a.Attempt,
					a.Method, mdEscape(a.Path), a.Status, a.Action, mdEscape(a.Rule), raText(a.RetryAfterMs))
			}
		}
	}
	if len(r.Run.Warnings) > 0 {
		ew.printf("\n### Warnings\n\n")
		for _, wn := range r.Run.Warnings {
			ew.printf("- %s\n", mdEscape(wn))
		}
	}
	if ew.err != nil {
		return fmt.Errorf("write report markdown: %w", ew.err)
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func raText(ms int64) string {
	if ms < 0 {
		return "-"
	}
	return fmt.Sprintf("%dms", ms)
}

func clientLabel(c ClientStats) string {
	if c.Name != "" {
		return c.Name + " (" + c.Client + ")"
	}
	if c.Client == "" {
		return "(no key)"
	}
	return c.Client
}

// fmtValue formats a metric value compactly.
func fmtValue(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

// junit types (the common Jenkins/GitHub JUnit schema).
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes junit.xml: a testsuite "retrylab" with a testcase per check and per
// gate; a failing one carries a <failure> with its evidence as text.
func WriteJUnit(w io.Writer, r *Report) error {
	s := junitSuite{Name: "retrylab", Time: fmt.Sprintf("%.3f", r.Run.AnalyzedIn)}
	for _, c := range r.Checks {
		tc := junitCase{Name: c.ID, Classname: "retrylab.checks"}
		if !c.Passed {
			tc.Failure = &junitFailure{
				Message: fmt.Sprintf("%s of %s", plural(c.Violations, "violation"), c.ID),
				Type:    "violation",
				Text:    evidenceText(c),
			}
		}
		s.Cases = append(s.Cases, tc)
	}
	for _, g := range r.Gates {
		tc := junitCase{Name: g.Expr, Classname: "retrylab.gates"}
		if !g.Passed {
			tc.Failure = &junitFailure{
				Message: fmt.Sprintf("gate %s failed: %s = %s", g.Expr, g.Metric, fmtValue(g.Value)),
				Type:    "gate",
				Text:    fmt.Sprintf("%s is %s; the gate requires %s", g.Metric, fmtValue(g.Value), g.Expr),
			}
		}
		s.Cases = append(s.Cases, tc)
	}
	s.Tests = len(s.Cases)
	for _, c := range s.Cases {
		if c.Failure != nil {
			s.Failures++
		}
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	return nil
}

// evidenceText renders a check's evidence as plain text.
func evidenceText(c CheckResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s (%s)\n", c.ID, plural(c.Violations, "violation"), c.Summary)
	for i, v := range c.Evidence {
		fmt.Fprintf(&b, "\n%d. %s\n   expected: %s\n", i+1, v.Message, v.Expected)
		if v.Client != "" || v.Op != "" {
			fmt.Fprintf(&b, "   client %s, operation %s\n", v.Client, v.Op)
		}
		for _, a := range v.Attempts {
			fmt.Fprintf(&b, "   seq %d  %s  +%dms  attempt %d  %s %s -> %d %s %s retry-after %s\n",
				a.Seq, a.Time, a.OffsetMs, a.Attempt, a.Method, a.Path, a.Status, a.Action, a.Rule, raText(a.RetryAfterMs))
		}
	}
	if c.Violations > len(c.Evidence) {
		fmt.Fprintf(&b, "\n... %d more violations\n", c.Violations-len(c.Evidence))
	}
	return b.String()
}

// WriteSummary writes a one-screen terminal summary: verdict, checks, failing gates and
// the main totals.
func WriteSummary(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	ew.printf("retrylab %s  (%s)\n\n", verdictWord(r), strings.NewReplacer("**", "", "`", "").Replace(runLine(r)))
	tw := tabwriter.NewWriter(ew.w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "CHECK\tVIOLATIONS\tRESULT\tFIRST EVIDENCE\n")
	for _, c := range r.Checks {
		ev := ""
		if len(c.Evidence) > 0 {
			ev = c.Evidence[0].Message
			if len(ev) > 70 {
				ev = ev[:67] + "..."
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", c.ID, c.Violations, passWord(c.Passed), ev)
	}
	if err := tw.Flush(); err != nil && ew.err == nil {
		ew.err = err
	}
	failed := make([]GateResult, 0)
	for _, g := range r.Gates {
		if !g.Passed {
			failed = append(failed, g)
		}
	}
	sort.SliceStable(failed, func(i, j int) bool { return failed[i].Source < failed[j].Source })
	ew.printf("\ngates: %d of %d passed\n", len(r.Gates)-len(failed), len(r.Gates))
	for _, g := range failed {
		ew.printf("  FAIL  %s  (%s = %s)\n", g.Expr, g.Metric, fmtValue(g.Value))
	}
	t := r.Totals
	ew.printf("\noperations %d  attempts %d  retries %d  success %.2f%%  abandoned %d  attempts/op %.2f\n",
		t.Operations, t.Attempts, t.Retries, 100*t.SuccessRate, t.Abandoned, t.AttemptsPerOp)
	if t.Cut > 0 {
		ew.printf("%s\n", cutNote(t.Cut))
	}
	ew.printf("latency ms  p50 %s  p90 %s  p99 %s  max %s   rate limited %d  faults %d  duplicates %d\n",
		fmtValue(r.Latency.P50), fmtValue(r.Latency.P90), fmtValue(r.Latency.P99), fmtValue(r.Latency.Max),
		t.RateLimited, t.Faults, t.Duplicates)
	for _, wn := range r.Run.Warnings {
		ew.printf("warning: %s\n", wn)
	}
	if ew.err != nil {
		return fmt.Errorf("write summary: %w", ew.err)
	}
	return nil
}

// cutNote explains Totals.Cut.
func cutNote(n int64) string {
	return fmt.Sprintf("%d operations were still failing where the journals end (the run was cut short): "+
		"they count as cut, not as failed or abandoned, and are left out of the success rate", n)
}
