// Package proc builds and runs the server processes that the benchmarks and
// the crash harness drive: it starts a program, learns the address it
// listens on from the line it prints, and stops it with SIGTERM or SIGKILL.
package proc
