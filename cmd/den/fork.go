package main

import (
	"context"
	"flag"
	"fmt"
)

func init() {
	var t target
	var bookmark, at, to string
	register(&command{
		Name:    "fork",
		Args:    "[flags] NAMESPACE ID --to ID",
		Summary: "copy an object's state (now, at --bookmark or --at) into another object; the source is untouched",
		Flags: func(fs *flag.FlagSet) {
			t.flags(fs)
			fs.StringVar(&to, "to", "", "the destination object: 64 hex digits or name:NAME (required)")
			fs.StringVar(&bookmark, "bookmark", "", "the source's state to copy (default: now)")
			fs.StringVar(&at, "at", "", "or the time of the source's state: Unix milliseconds or RFC 3339")
		},
		Run: func(ctx context.Context, args []string, std stdio) error {
			ns, id, err := objectArgs(args)
			if err != nil {
				return err
			}
			if to == "" {
				return usagef("--to is required")
			}
			return t.withClient(ctx, func(c *client) error {
				b, err := when(ctx, c, ns, id, bookmark, at)
				if err != nil {
					return err
				}
				var out undoReply
				raw, err := c.call(ctx, "POST", objectPath(ns, id)+"/fork", map[string]string{"bookmark": b, "to": to}, &out)
				if err != nil {
					return err
				}
				if t.json {
					return printJSON(std.Out, raw)
				}
				fmt.Fprintf(std.Out, "forked into %s\nundo with: den restore %s %s --bookmark %s\n", out.ID, ns, out.ID, out.Undo)
				return nil
			})
		},
	})
}
