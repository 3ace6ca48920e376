package profile

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestLoadQuickstart(t *testing.T) {
	p, err := Load("../../profiles/quickstart.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if p.Name != "quickstart" || p.Duration.D() != 20*time.Second || p.Load.Rate != 40 {
		t.Errorf("got name %q duration %v rate %v", p.Name, p.Duration, p.Load.Rate)
	}
	if got, want := p.Client.Policy, "compliant"; got != want {
		t.Errorf("policy: got %q, want %q", got, want)
	}
	if got := p.Position("faults[0]"); !strings.Contains(got, "quickstart.yaml:") {
		t.Errorf("Position(faults[0]) = %q, want FILE:LINE", got)
	}
}

// TestShippedProfiles loads every profile in profiles/: they are the library users start from.
func TestShippedProfiles(t *testing.T) {
	entries, err := os.ReadDir("../../profiles")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			if _, err := Load("../../profiles/" + e.Name()); err != nil {
				t.Errorf("%v", err)
			}
		})
	}
	if n == 0 {
		t.Fatal("no profiles found")
	}
}

const base = `version: 1
name: t
duration: 5s
load:
  rate: 10/s
faults:
  - name: a
    action: respond
    status: 503
    probability: 0.5
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every line of the error, exactly
	}{
		{"misspelled field", strings.Replace(base, "  rate:", "  rat:", 1),
			[]string{`p.yaml:5: load.rat: unknown field (did you mean "rate"?)`}},
		{"negative rate", strings.Replace(base, "10/s", "-5/s", 1),
			[]string{`p.yaml:5: load.rate: "-5/s" is negative`}},
		{"probability above 1", strings.Replace(base, "0.5", "1.5", 1),
			[]string{`p.yaml:10: faults[0].probability: 1.5 is out of range [0, 1]`}},
		{"bad duration", strings.Replace(base, "5s", "5 seconds", 1),
			[]string{`p.yaml:3: duration: "5 seconds" is not a duration (want e.g. 500ms, 10s, 2m)`}},
		{"bad status", strings.Replace(base, "503", "5030", 1),
			[]string{`p.yaml:9: faults[0].status: 5030 is not an HTTP status (100-599)`}},
		{"status not a number", strings.Replace(base, "503", "oops", 1),
			[]string{`p.yaml:9: faults[0].status: "oops" is not an integer`}},
		{"unknown action", strings.Replace(base, "respond", "explode", 1),
			[]string{`p.yaml:8: faults[0].action: "explode" is not one of respond, lose_response, delay, reset, hang, truncate, slow_body`}},
		{"field of another action", base + "    delay: 1s\n",
			[]string{`p.yaml:11: faults[0].delay: not used by action respond`}},
		{"two problems in line order", strings.Replace(strings.Replace(base, "503", "999", 1), "duration: 5s", "duration: 0s", 1),
			[]string{`p.yaml:3: duration: required: how long the load runs, e.g. 20s`, `p.yaml:9: faults[0].status: 999 is not an HTTP status (100-599)`}},
		{"non-loopback target", base + "target: http://10.0.0.1:8080\n",
			[]string{`p.yaml:11: target: "10.0.0.1" is not a loopback address: retrylab only sends traffic to 127.0.0.0/8 and ::1 (want builtin or an http:// URL on loopback)`}},
		{"unknown policy", base + "client:\n  policy: yolo\n",
			[]string{`p.yaml:12: client.policy: "yolo" is not a reference client (one of compliant, naive, no-jitter, ignores-retry-after, new-key-per-retry, retries-4xx, unbounded, no-retry)`}},
		{"syntax", "name: [unclosed\n",
			[]string{`p.yaml:1: YAML syntax: did not find expected ',' or ']'`}},
		{"not a mapping", "- a\n- b\n", []string{`p.yaml:1: a profile is a mapping of fields (name:, duration:, load:, ...)`}},
		{"burst without duration", base + "rate_limits:\n  - limit: 100/s\n    burst: 200/s\n",
			[]string{`p.yaml:12: rate_limits[0].burst_duration: required when burst > limit: how long a burst may last, e.g. 10s`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse: no error")
			}
			if !IsInvalid(err) {
				t.Errorf("error is not an invalid-profile error: %T", err)
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		err  bool
	}{
		{"100/s", 100, false}, {"6000/m", 100, false}, {"3600/h", 1, false}, {"25/250ms", 100, false},
		{"7", 7, false}, {"0.5/s", 0.5, false}, {"-1/s", 0, true}, {"abc", 0, true}, {"5/fortnight", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if !tt.err && (float64(got)-tt.want > 1e-9 || tt.want-float64(got) > 1e-9) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSteps(t *testing.T) {
	p, err := Parse("p.yaml", []byte("duration: 10s\nload:\n  shape: step\n  steps: [\"50/s for 5s\", \"100/s@5s\", {rate: 20/s, duration: 1s}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{{50, Duration(5 * time.Second)}, {100, Duration(5 * time.Second)}, {20, Duration(time.Second)}}
	for i, s := range p.Load.Steps {
		if s != want[i] {
			t.Errorf("step %d: got %+v, want %+v", i, s, want[i])
		}
	}
}

func TestDefaults(t *testing.T) {
	p, err := Parse("p.yaml", []byte("duration: 10s\nload: {rate: 5/s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Target != "builtin" || p.Analysis.MaxAttempts != 5 || p.Analysis.MaxRetrySpan.D() != 30*time.Second ||
		len(p.Clients) != 1 || len(p.Endpoints) != 1 || p.Builtin.IdempotencyTTL.D() != 24*time.Hour {
		t.Errorf("defaults not applied: %+v", p)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte("duration: 1s\nload: {rate: 1/s}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.yaml", data)
		if err == nil && p == nil {
			t.Fatal("nil profile without error")
		}
	})
}

// TestEveryProblemReported checks that a value error does not hide the problems after it.
func TestEveryProblemReported(t *testing.T) {
	in := "version: 1\nduration: 5s\nload:\n  shape: constant\n  rat: 10/s\nfaults:\n  - action: respond\n    status: 503\n    probability: 1.5\n"
	_, err := Parse("b.yaml", []byte(in))
	want := "b.yaml:5: load.rat: unknown field (did you mean \"rate\"?)\nb.yaml:9: faults[0].probability: 1.5 is out of range [0, 1]"
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestLoadRules(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/rules.yaml"
	if err := os.WriteFile(path, []byte("faults:\n  - {action: respond, status: 503, retry_after: 1s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadRules(path)
	if err != nil {
		t.Fatalf("LoadRules: %v", err)
	}
	if len(p.Faults) != 1 || p.Faults[0].RetryAfterForm != RAFormSeconds {
		t.Errorf("faults: %+v", p.Faults)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "duration: required") {
		t.Errorf("Load without duration: %v", err)
	}
}
