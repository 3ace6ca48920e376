package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/retrylab/retrylab/internal/profile"
)

func TestExitCode(t *testing.T) {
	_, invalid := profile.Parse("p.yaml", []byte("duration: 0s\nload: {rate: 1/s}\n"))
	tests := []struct {
		name   string
		err    error
		want   int
		stderr string
	}{
		{"nil", nil, 0, ""},
		{"help", ErrHelp, 0, ""},
		{"usage", Usagef("bad %s", "flag"), 2, "Error: bad flag\n"},
		{"wrapped usage", fmt.Errorf("run: %w", Usagef("x")), 2, "Error: run: x\n"},
		{"invalid profile", invalid, 2, "Error: invalid profile:\np.yaml:1: duration: required"},
		{"runtime", errors.New("disk full"), 3, "Error: disk full\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if got := ExitCode(tt.err, &b); got != tt.want {
				t.Errorf("exit %d, want %d", got, tt.want)
			}
			if !strings.HasPrefix(b.String(), tt.stderr) || (tt.stderr == "" && b.Len() > 0) {
				t.Errorf("stderr %q, want prefix %q", b.String(), tt.stderr)
			}
		})
	}
}
