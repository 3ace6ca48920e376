package profile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/retrylab/retrylab/internal/suggest"
)

// FieldError is one problem in a profile, located by file, line and field path
// (e.g. "faults[1].probability").
type FieldError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
}

// Error is an invalid profile: every problem found, in line order. Callers test for it
// with errors.As to exit with the "invalid profile" status.
type Error struct {
	Problems []*FieldError
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
		if p.File == "" && p.Line == 0 {
			parts[i] = p.Field + ": " + p.Msg
		}
	}
	return strings.Join(parts, "\n")
}

// IsInvalid reports whether err is (or wraps) an invalid-profile error.
func IsInvalid(err error) bool {
	var pe *Error
	return errors.As(err, &pe)
}

// ThresholdParser, when set, validates each entry of thresholds: at load time. The
// analysis package sets it to its gate parser, so a bad gate is reported with its line.
var ThresholdParser func(expr string) error

// Load reads, decodes, defaults and validates the profile at path.
func Load(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read profile %s: %w", path, err)
	}
	return Parse(path, data)
}

// LoadRules reads a profile for the fault proxy alone: its rules, limits, proxy options and
// clients are validated as by Load, but duration and load may be absent, since the proxy
// drives no load.
func LoadRules(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read profile %s: %w", path, err)
	}
	return parse(path, data, true)
}

// Parse decodes, defaults and validates a profile; name is the file name used in errors.
func Parse(name string, data []byte) (*Profile, error) {
	return parse(name, data, false)
}

func parse(name string, data []byte, rulesOnly bool) (*Profile, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{Problems: []*FieldError{syntaxError(name, err, data)}}
	}
	idx := newIndex(&root)
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, &Error{Problems: []*FieldError{{File: name, Line: 1, Msg: "empty profile"}}}
	}
	if doc := root.Content[0]; doc.Kind != yaml.MappingNode {
		return nil, &Error{Problems: []*FieldError{{File: name, Line: doc.Line, Msg: "a profile is a mapping of fields (name:, duration:, load:, ...)"}}}
	}

	p := &Profile{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		return nil, decodeError(name, idx, err)
	}
	p.Path = name
	p.lines = idx.lines
	p.rulesOnly = rulesOnly
	p.ApplyDefaults()
	if probs := p.validate(); len(probs) > 0 {
		for _, pr := range probs {
			pr.File = name
			if pr.Line == 0 {
				pr.Line = idx.lineOf(pr.Field)
			}
		}
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		return nil, &Error{Problems: probs}
	}
	return p, nil
}

var yamlLineRe = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxError locates yaml.v3's syntax error. The parser names the line where it gave up,
// often the start of the block around the mistake: when a line at or after it is indented
// in a way no open block allows, that line is the one reported, with the parser's words.
func syntaxError(name string, err error, data []byte) *FieldError {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		for _, p := range indentProblems(data) {
			if p.line >= line {
				if p.line == line {
					return &FieldError{File: name, Line: line, Msg: "YAML syntax: " + m[2] + ": " + p.msg}
				}
				return &FieldError{File: name, Line: p.line, Msg: fmt.Sprintf("YAML syntax: %s (the parser stopped at line %d: %s)", p.msg, line, m[2])}
			}
		}
		return &FieldError{File: name, Line: line, Msg: "YAML syntax: " + m[2]}
	}
	return &FieldError{File: name, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
}

var (
	valueErrRe     = regexp.MustCompile(`^line (\d+): column (\d+): (.*)$`)
	unknownFieldRe = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
	cannotRe       = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
)

// decodeError turns yaml.v3's decode errors into located FieldErrors.
func decodeError(name string, idx *index, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return &Error{Problems: []*FieldError{{File: name, Msg: err.Error()}}}
	}
	var probs []*FieldError
	for _, e := range te.Errors {
		if m := valueErrRe.FindStringSubmatch(e); m != nil {
			line, _ := strconv.Atoi(m[1])
			col, _ := strconv.Atoi(m[2])
			probs = append(probs, &FieldError{File: name, Line: line, Field: idx.valueAt(line, col), Msg: m[3]})
			continue
		}
		if m := unknownFieldRe.FindStringSubmatch(e); m != nil {
			line, _ := strconv.Atoi(m[1])
			field := idx.keyAt(line, m[2])
			msg := "unknown field"
			if s := suggest.Closest(m[2], idx.siblings(field), 3); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			probs = append(probs, &FieldError{File: name, Line: line, Field: field, Msg: msg})
			continue
		}
		if m := cannotRe.FindStringSubmatch(e); m != nil {
			line, _ := strconv.Atoi(m[1])
			probs = append(probs, &FieldError{File: name, Line: line, Field: idx.valueOnLine(line),
				Msg: fmt.Sprintf("%q is not %s", m[3], typeWord(m[4]))})
			continue
		}
		if m := yamlLineRe.FindStringSubmatch(e); m != nil {
			line, _ := strconv.Atoi(m[1])
			probs = append(probs, &FieldError{File: name, Line: line, Field: idx.valueOnLine(line), Msg: m[2]})
			continue
		}
		probs = append(probs, &FieldError{File: name, Msg: e})
	}
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
	return &Error{Problems: probs}
}

func typeWord(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map"):
		return "a mapping"
	}
	return "valid here (want " + goType + ")"
}

// index maps field paths of the YAML document to their lines.
type index struct {
	lines  map[string]int // path -> line of its value
	keys   []entry
	values []entry
}

type entry struct {
	line, col int
	path      string
	name      string
}

func newIndex(root *yaml.Node) *index {
	idx := &index{lines: map[string]int{}}
	if len(root.Content) > 0 {
		idx.walk(root.Content[0], "")
	}
	return idx
}

func (idx *index) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			idx.lines[p] = k.Line
			idx.keys = append(idx.keys, entry{k.Line, k.Column, p, k.Value})
			idx.values = append(idx.values, entry{v.Line, v.Column, p, k.Value})
			idx.walk(v, p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			idx.lines[p] = c.Line
			idx.values = append(idx.values, entry{c.Line, c.Column, p, ""})
			idx.walk(c, p)
		}
	}
}

func (idx *index) keyAt(line int, name string) string {
	for _, e := range idx.keys {
		if e.line == line && e.name == name {
			return e.path
		}
	}
	return name
}

func (idx *index) valueAt(line, col int) string {
	for _, e := range idx.values {
		if e.line == line && e.col == col {
			return e.path
		}
	}
	return idx.valueOnLine(line)
}

// valueOnLine returns the deepest path whose value starts on line.
func (idx *index) valueOnLine(line int) string {
	best := ""
	for _, e := range idx.values {
		if e.line == line && len(e.path) > len(best) {
			best = e.path
		}
	}
	return best
}

// siblings returns the field names valid beside path, from the Go types.
func (idx *index) siblings(path string) []string {
	parent := ""
	if i := strings.LastIndex(path, "."); i >= 0 {
		parent = path[:i]
	}
	return fieldsOf(parent)
}

// lineOf returns the line of path, or of its nearest located ancestor.
func (idx *index) lineOf(path string) int {
	for p := path; p != ""; {
		if l, ok := idx.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// Position returns "FILE:LINE" for a field path of a loaded profile (e.g. "thresholds[2]"),
// or just the file when the path is not located.
func (p *Profile) Position(path string) string {
	if l, ok := p.lines[path]; ok {
		return fmt.Sprintf("%s:%d", p.Path, l)
	}
	return p.Path
}

// DefaultName returns the profile's name or, if empty, its file's base name.
func (p *Profile) DefaultName() string {
	if p.Name != "" {
		return p.Name
	}
	return strings.TrimSuffix(filepath.Base(p.Path), filepath.Ext(p.Path))
}
