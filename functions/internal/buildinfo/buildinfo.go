// Package buildinfo holds the version stamped into each function at build time.
package buildinfo

// Version is the release or commit the binary was built from. ko and the
// Makefile set it with -ldflags "-X .../buildinfo.Version=...".
var Version = "dev"
