package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

func init() {
	register(&command{
		Name:    "version",
		Summary: "print den's version and the Go version it was built with",
		Run: func(ctx context.Context, args []string, std stdio) error {
			if len(args) > 0 {
				return usagef("takes no arguments")
			}
			v, goVersion := "(devel)", "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				goVersion = bi.GoVersion
				if bi.Main.Version != "" {
					v = bi.Main.Version
				}
			}
			fmt.Fprintf(std.Out, "den %s %s\n", v, goVersion)
			return nil
		},
	})
}
