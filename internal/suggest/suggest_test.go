package suggest

import "testing"

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"rate", "rate", 0}, {"rat", "rate", 1}, {"rtae", "rate", 2}, {"", "abc", 3}, {"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	cands := []string{"rate", "from", "to", "steps"}
	tests := []struct {
		s     string
		limit int
		want  string
	}{
		{"rat", 3, "rate"}, {"stpes", 3, "steps"}, {"burst_rate", 3, ""}, {"fro", 2, "from"}, {"xyz", 1, ""},
	}
	for _, tt := range tests {
		if got := Closest(tt.s, cands, tt.limit); got != tt.want {
			t.Errorf("Closest(%q, %d) = %q, want %q", tt.s, tt.limit, got, tt.want)
		}
	}
}
