package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestSyntaxErrorNamesTheMisindentedLine: yaml.v3 reports an indentation mistake where
// the enclosing block starts; the error names the line that is wrong.
func TestSyntaxErrorNamesTheMisindentedLine(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"dedent to no block", "name: x\nload:\n  rate: 10/s\n  duration: 5s\n burst: 20/s\n",
			"p.yaml:5: YAML syntax: this line is indented 1 space, which matches no enclosing block (0 or 2 spaces) (the parser stopped at line 4: did not find expected key)"},
		{"dedent inside a sequence item", "name: x\nload:\n  rate: 10/s\n  duration: 5s\nfaults:\n  - action: respond\n    status: 503\n   probability: 0.5\n",
			"p.yaml:8: YAML syntax: this line is indented 3 spaces, which matches no enclosing block (0, 2 or 4 spaces) (the parser stopped at line 5: did not find expected '-' indicator)"},
		{"indent under a complete value", "name: x\nload:\n  rate: 10/s\n    duration: 5s\n",
			"p.yaml:4: YAML syntax: mapping values are not allowed in this context: this line is indented 4 spaces, more than line 3, whose value is already complete"},
		{"not an indentation mistake", "name: [unclosed\n",
			"p.yaml:1: YAML syntax: did not find expected ',' or ']'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			if got := strings.TrimPrefix(err.Error(), "invalid profile:\n"); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestIndentProblemsQuietOnValidYAML: no valid document of the project is flagged, and
// neither are the constructs the scan steps over.
func TestIndentProblemsQuietOnValidYAML(t *testing.T) {
	files, _ := filepath.Glob("../../profiles/*.yaml")
	more, _ := filepath.Glob("../../*/*/testdata/*.yaml")
	files = append(files, more...)
	if len(files) < 5 {
		t.Fatalf("found only %d YAML files", len(files))
	}
	docs := map[string]string{
		"block scalar": "a:\n  b: |\n    text\n      more text\n  c: 1\n",
		"folded":       "a: >-\n  one\n    two\nb: 2\n",
		"flow":         "a: [1,\n     2]\nb: {x: 1,\n  y: 2}\nc: 3\n",
		"quoted":       "a: \"one\n   two\"\nb: 'it''s\n      fine'\nc: 1\n",
		"compact seq":  "faults:\n- action: respond\n  status: 503\n- action: reset\nload:\n  rate: 1/s\n",
		"nested seq":   "a:\n  - - x\n    - y\n  - z\n",
		"comments":     "a:   # c\n  b: 1 # d\n# e\n      # f\n  c: 2\n",
		"seq of maps":  "a:\n  - b: 1\n    c:\n      d: 2\n    e: 3\n  - b: 4\n",
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[f] = string(data)
	}
	for name, doc := range docs {
		var v any
		if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatalf("%s is not valid YAML: %v", name, err)
		}
		if probs := indentProblems([]byte(doc)); len(probs) > 0 {
			t.Errorf("%s: flagged %+v", name, probs)
		}
	}
}
