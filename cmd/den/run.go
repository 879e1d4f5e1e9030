package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// stdio is where a command reads and writes; tests pass buffers.
type stdio struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// command is one subcommand. Each lives in its own file and registers itself
// from an init function, so subcommands can be added without touching a
// shared table.
type command struct {
	// Name is the word after "den", such as "init".
	Name string
	// Args is the synopsis after the name, such as "[flags] NAME".
	Args string
	// Summary is one line for "den help".
	Summary string
	// Flags defines the command's flags on fs; nil when it has none.
	Flags func(fs *flag.FlagSet)
	// Run runs the command with the arguments left after the flags.
	Run func(ctx context.Context, args []string, std stdio) error
}

var commands = map[string]*command{}

// register adds c to the commands; it panics on a duplicate name, a
// programming error caught by every test run.
func register(c *command) {
	if _, dup := commands[c.Name]; dup {
		panic("den: command registered twice: " + c.Name)
	}
	commands[c.Name] = c
}

// usageError is a mistake on the command line: it is reported with the
// command's usage and exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// run runs the command line args (without the program name) and returns the
// exit status: 0 for success, 1 for a failure, 2 for a usage mistake.
func run(ctx context.Context, args []string, std stdio) int {
	if len(args) == 0 {
		printHelp(std.Err)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				commandFlags(c, std.Out).Usage()
				return 0
			}
		}
		printHelp(std.Out)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(std.Err, "den: unknown command %q\n\n", name)
		printHelp(std.Err)
		return 2
	}
	fs := commandFlags(c, std.Err)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	err := c.Run(ctx, fs.Args(), std)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(std.Err, "den %s: %s\n", c.Name, ue.msg)
		fs.SetOutput(std.Err)
		fs.Usage()
		return 2
	default:
		fmt.Fprintf(std.Err, "den %s: %v\n", c.Name, err)
		return 1
	}
}

// commandFlags returns c's flag set, printing its usage to w.
func commandFlags(c *command, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("den "+c.Name, flag.ContinueOnError)
	fs.SetOutput(w)
	if c.Flags != nil {
		c.Flags(fs)
	}
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: den %s %s\n\n%s\n", c.Name, c.Args, c.Summary)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintf(out, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

func printHelp(w io.Writer) {
	names := make([]string, 0, len(commands))
	width := 0
	for n := range commands {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("Usage: den <command> [flags] [args]\n\nCommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, n, commands[n].Summary)
	}
	b.WriteString("\nRun \"den help <command>\" or \"den <command> --help\" for a command's flags.\n")
	io.WriteString(w, b.String())
}
