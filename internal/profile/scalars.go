package profile

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// valueError builds the error the scalar types' UnmarshalYAML return: a *yaml.TypeError, so
// the decoder goes on and reports every problem; Load turns each into FILE:LINE: field: msg.
func valueError(line, column int, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: %s", line, column, msg)}}
}

func scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", valueError(n.Line, n.Column, fmt.Sprintf("want a %s, got a %s", what, kindName(n.Kind)))
	}
	return strings.TrimSpace(n.Value), nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	default:
		return "scalar"
	}
}

// Duration is a time.Duration written as Go writes it ("250ms", "1m30s"); a bare 0 is allowed.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a duration and refuses negative ones.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalar(n, "duration")
	if err != nil {
		return err
	}
	if s == "0" {
		*d = 0
		return nil
	}
	v, perr := time.ParseDuration(s)
	if perr != nil {
		return valueError(n.Line, n.Column, fmt.Sprintf("%q is not a duration (want e.g. 500ms, 10s, 2m)", n.Value))
	}
	if v < 0 {
		return valueError(n.Line, n.Column, fmt.Sprintf("%q is negative", n.Value))
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Rate is a request rate in requests per second, written "100/s", "6000/m", "0.5/s" or a
// bare number meaning per second.
type Rate float64

// PerSecond returns r in requests per second.
func (r Rate) PerSecond() float64 { return float64(r) }

// String formats r as "N/s".
func (r Rate) String() string { return strconv.FormatFloat(float64(r), 'f', -1, 64) + "/s" }

// ParseRate parses "100/s", "6000/m", "1/h", "250/100ms" or a bare number (per second).
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	num, per, hasPer := strings.Cut(s, "/")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a rate (want e.g. 100/s, 6000/m)", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	if !hasPer {
		return Rate(v), nil
	}
	per = strings.TrimSpace(per)
	var unit time.Duration
	switch per {
	case "s", "sec", "second":
		unit = time.Second
	case "m", "min", "minute":
		unit = time.Minute
	case "h", "hour":
		unit = time.Hour
	default:
		d, err := time.ParseDuration(per)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("%q has an unknown unit %q (want /s, /m, /h or a duration)", s, per)
		}
		unit = d
	}
	return Rate(v / unit.Seconds()), nil
}

// UnmarshalYAML parses a rate.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalar(n, "rate")
	if err != nil {
		return err
	}
	v, perr := ParseRate(s)
	if perr != nil {
		return valueError(n.Line, n.Column, perr.Error())
	}
	*r = v
	return nil
}

// MarshalYAML writes r as "N/s".
func (r Rate) MarshalYAML() (any, error) { return r.String(), nil }

// Probability is a number in [0, 1]; written as 0.25 or "25%". Set reports whether it was given.
type Probability struct {
	P   float64
	Set bool
}

// Value returns the probability, 1 when it was not given.
func (p Probability) Value() float64 {
	if !p.Set {
		return 1
	}
	return p.P
}

// UnmarshalYAML parses a probability.
func (p *Probability) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalar(n, "probability")
	if err != nil {
		return err
	}
	pct := strings.HasSuffix(s, "%")
	v, perr := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if perr != nil || math.IsNaN(v) {
		return valueError(n.Line, n.Column, fmt.Sprintf("%q is not a probability (want a number in [0, 1] or a percentage)", n.Value))
	}
	if pct {
		v /= 100
	}
	if v < 0 || v > 1 {
		return valueError(n.Line, n.Column, fmt.Sprintf("%s is out of range [0, 1]", n.Value))
	}
	*p = Probability{P: v, Set: true}
	return nil
}

// MarshalYAML writes p as a number.
func (p Probability) MarshalYAML() (any, error) { return p.Value(), nil }

// UnmarshalYAML accepts a step as "50/s for 10s", "50/s@10s" or {rate, duration}.
func (s *Step) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		type plain Step
		return n.Decode((*plain)(s))
	}
	v, err := scalar(n, "step")
	if err != nil {
		return err
	}
	rs, ds, ok := strings.Cut(v, " for ")
	if !ok {
		rs, ds, ok = strings.Cut(v, "@")
	}
	if !ok {
		return valueError(n.Line, n.Column, fmt.Sprintf("%q is not a step (want e.g. \"50/s for 10s\")", v))
	}
	r, err := ParseRate(rs)
	if err != nil {
		return valueError(n.Line, n.Column, err.Error())
	}
	d, err := time.ParseDuration(strings.TrimSpace(ds))
	if err != nil || d <= 0 {
		return valueError(n.Line, n.Column, fmt.Sprintf("%q: %q is not a positive duration", v, strings.TrimSpace(ds)))
	}
	*s = Step{Rate: r, Duration: Duration(d)}
	return nil
}
