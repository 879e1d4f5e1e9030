package main

import (
	"context"
	"flag"
	"fmt"
)

// undoReply is the answer of a restore, a fork or an import.
type undoReply struct {
	ID   string `json:"id"`
	Undo string `json:"undo"`
}

func init() {
	var t target
	var bookmark, at string
	register(&command{
		Name:    "restore",
		Args:    "[flags] NAMESPACE ID",
		Summary: "restore an object to a bookmark or a time; prints the bookmark that undoes it",
		Flags: func(fs *flag.FlagSet) {
			t.flags(fs)
			fs.StringVar(&bookmark, "bookmark", "", "the bookmark to restore")
			fs.StringVar(&at, "at", "", "or the time to restore: Unix milliseconds or RFC 3339")
		},
		Run: func(ctx context.Context, args []string, std stdio) error {
			ns, id, err := objectArgs(args)
			if err != nil {
				return err
			}
			if bookmark == "" && at == "" {
				return usagef("give --bookmark or --at")
			}
			return t.withClient(ctx, func(c *client) error {
				b, err := when(ctx, c, ns, id, bookmark, at)
				if err != nil {
					return err
				}
				var out undoReply
				raw, err := c.call(ctx, "POST", objectPath(ns, id)+"/restore", map[string]string{"bookmark": b}, &out)
				if err != nil {
					return err
				}
				if t.json {
					return printJSON(std.Out, raw)
				}
				fmt.Fprintf(std.Out, "restored %s to %s\nundo with: --bookmark %s\n", out.ID, b, out.Undo)
				return nil
			})
		},
	})
}
