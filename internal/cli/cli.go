// Package cli holds what retrylab's commands share at the edge: usage errors and the
// mapping of an error to the exit status DESIGN.md fixes (2 bad usage or invalid profile,
// 3 a runtime failure), printed to stderr as "Error: ...".
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/retrylab/retrylab/internal/profile"
)

// Exit statuses shared by every command.
const (
	ExitOK      = 0
	ExitUsage   = 2
	ExitRuntime = 3
)

// UsageError is bad usage: exit 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{fmt.Sprintf(format, args...)}
}

// ErrHelp is returned after --help was printed: exit 0.
var ErrHelp = errors.New("help")

// ExitCode prints err to stderr (unless it is nil or ErrHelp) and returns its exit status:
// 0, 2 for a usage error or an invalid profile, 3 for anything else. Commands check their
// own statuses (a failed gate, say) before calling it.
func ExitCode(err error, stderr io.Writer) int {
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return ExitUsage
	case profile.IsInvalid(err):
		fmt.Fprintf(stderr, "Error: invalid profile:\n%v\n", err)
		return ExitUsage
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	return ExitRuntime
}
