// Package version holds retrylab's version, stamped at build time by the Makefile
// (-ldflags "-X github.com/retrylab/retrylab/internal/version.Version=...").
package version

// Version is the retrylab version; "dev" for an unstamped build.
var Version = "dev"
