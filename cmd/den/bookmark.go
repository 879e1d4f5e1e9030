package main

import (
	"context"
	"flag"
	"fmt"
)

func init() {
	var t target
	var at string
	register(&command{
		Name:    "bookmark",
		Args:    "[flags] NAMESPACE ID",
		Summary: "print a bookmark for an object's state now, or at --at",
		Flags: func(fs *flag.FlagSet) {
			t.flags(fs)
			fs.StringVar(&at, "at", "", "a time within the retention window: Unix milliseconds or RFC 3339")
		},
		Run: func(ctx context.Context, args []string, std stdio) error {
			ns, id, err := objectArgs(args)
			if err != nil {
				return err
			}
			return t.withClient(ctx, func(c *client) error {
				b, err := when(ctx, c, ns, id, "", at)
				if err != nil {
					return err
				}
				if b == "" {
					var out struct{ Bookmark string }
					if _, err := c.call(ctx, "GET", objectPath(ns, id)+"/bookmark", nil, &out); err != nil {
						return err
					}
					b = out.Bookmark
				}
				if t.json {
					return printJSON(std.Out, []byte(fmt.Sprintf("{%q: %q}", "bookmark", b)))
				}
				fmt.Fprintln(std.Out, b)
				return nil
			})
		},
	})
}
