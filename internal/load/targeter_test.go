package load

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/retrylab/retrylab/internal/profile"
)

func testProfile() *profile.Profile {
	p := &profile.Profile{
		Seed:     42,
		Duration: dur(2e9),
		Load:     profile.LoadSpec{Shape: "constant", Rate: 50, Workers: 10, MaxWorkers: 200},
		Clients: []profile.Client{
			{Name: "alpha", Key: "key_a", Weight: 3},
			{Name: "beta", Key: "key_b", Weight: 1},
		},
		Endpoints: []profile.Endpoint{
			{Name: "create", Method: "POST", Path: "/v1/calls", Body: `{"id":"{{uuid}}","n":{{seq}},"c":"{{client}}"}`, Weight: 1,
				Headers: map[string]string{"X-Ref": "ref-{{uuid}}"}},
			{Name: "get", Method: "GET", Path: "/v1/calls/{{seq}}", Weight: 4},
		},
		Client: profile.ClientUnderTest{Kind: profile.KindReference, Policy: "no-retry"},
	}
	p.ApplyDefaults()
	return p
}

func TestTargeterWeights(t *testing.T) {
	tg, err := NewTargeter(testProfile(), "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	clients, endpoints := map[string]int{}, map[string]int{}
	tg.OnOp = func(o Op) { clients[o.Client]++; endpoints[o.Endpoint]++ }
	var tgt vegeta.Target
	for range n {
		if err := tg.Next(&tgt); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		got  int
		want float64 // share
	}{
		{"client alpha", clients["alpha"], 0.75},
		{"client beta", clients["beta"], 0.25},
		{"endpoint create", endpoints["create"], 0.2},
		{"endpoint get", endpoints["get"], 0.8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Binomial: 4 standard deviations of n·p·(1-p) is under 1.3% of n here.
			share := float64(tc.got) / n
			sd := math.Sqrt(tc.want * (1 - tc.want) / n)
			if math.Abs(share-tc.want) > 4*sd {
				t.Fatalf("share %.4f, want %.2f ± %.4f", share, tc.want, 4*sd)
			}
		})
	}
}

func TestTargeterDeterministic(t *testing.T) {
	seq := func(seed int64) []string {
		p := testProfile()
		p.Seed = seed
		tg, err := NewTargeter(p, "http://127.0.0.1:1/")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		var tgt vegeta.Target
		for range 50 {
			_ = tg.Next(&tgt)
			out = append(out, tgt.Method+" "+tgt.URL+" "+string(tgt.Body)+" "+tgt.Header.Get("Authorization")+" "+tgt.Header.Get("X-Retrylab-Op"))
		}
		return out
	}
	a, b, c := seq(1), seq(1), seq(2)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatal("same seed, different targets")
	}
	if strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Fatal("different seeds, same targets")
	}
}

func TestTargeterTemplates(t *testing.T) {
	tg, err := NewTargeter(testProfile(), "http://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	uuidRe := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	bodyRe := regexp.MustCompile(`^\{"id":"([0-9a-f-]{36})","n":(\d+),"c":"(alpha|beta)"\}$`)
	ops := map[string]bool{}
	var last Op
	tg.OnOp = func(o Op) { last = o }
	var tgt vegeta.Target
	seen := map[string]int{}
	for i := 1; i <= 200; i++ {
		if err := tg.Next(&tgt); err != nil {
			t.Fatal(err)
		}
		op := tgt.Header.Get("X-Retrylab-Op")
		if !uuidRe.MatchString(op) || ops[op] {
			t.Fatalf("op header %q: want a fresh UUID", op)
		}
		ops[op] = true
		if last.ID != op || last.Seq != uint64(i) {
			t.Fatalf("OnOp got %+v for op %s seq %d", last, op, i)
		}
		wantAuth := map[string]string{"alpha": "Bearer key_a", "beta": "Bearer key_b"}[last.Client]
		if got := tgt.Header.Get("Authorization"); got != wantAuth {
			t.Fatalf("Authorization %q for client %s", got, last.Client)
		}
		seen[tgt.Method]++
		switch tgt.Method {
		case "POST":
			m := bodyRe.FindStringSubmatch(string(tgt.Body))
			if m == nil {
				t.Fatalf("body %q", tgt.Body)
			}
			if m[2] != strconv.Itoa(i) || m[3] != last.Client {
				t.Fatalf("body %q: want seq %d, client %s", tgt.Body, i, last.Client)
			}
			if got := tgt.Header.Get("X-Ref"); got != "ref-"+m[1] {
				t.Fatalf("header X-Ref %q, want the body's uuid %s", got, m[1])
			}
			if tgt.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("no JSON content type")
			}
			if tgt.URL != "http://127.0.0.1:1/v1/calls" {
				t.Fatalf("URL %q", tgt.URL)
			}
		case "GET":
			if tgt.URL != "http://127.0.0.1:1/v1/calls/"+strconv.Itoa(i) || tgt.Body != nil {
				t.Fatalf("GET %q body %q", tgt.URL, tgt.Body)
			}
		}
	}
	if seen["POST"] == 0 || seen["GET"] == 0 {
		t.Fatalf("methods %v", seen)
	}
}

func TestParseTemplate(t *testing.T) {
	v := vars{uuid: "U", seq: "7", key: "K", client: "C"}
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "literal", in: "/v1/calls", want: "/v1/calls"},
		{name: "all variables", in: "{{uuid}}/{{seq}}/{{key}}/{{client}}", want: "U/7/K/C"},
		{name: "spaces inside braces", in: "a{{ seq }}b", want: "a7b"},
		{name: "empty", in: "", want: ""},
		{name: "unknown variable", in: "{{nope}}", wantErr: true},
		{name: "unclosed", in: "x{{seq", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tm, err := parseTemplate(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil {
				if got := tm.render(&v); got != tc.want {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
}

func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{"", "{{uuid}}", "a{{seq}}b{{", "}}{{key}}{{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parseTemplate(s)
		if err != nil {
			return
		}
		if !strings.Contains(s, "{{") && tm.render(&vars{}) != s {
			t.Fatalf("literal %q rendered as %q", s, tm.render(&vars{}))
		}
	})
}
