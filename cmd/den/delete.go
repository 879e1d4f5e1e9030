package main

import (
	"context"
	"flag"
	"fmt"
)

func init() {
	var t target
	var yes bool
	register(&command{
		Name:    "delete",
		Args:    "[flags] NAMESPACE ID --yes",
		Summary: "delete an object: its database and its whole history (no undo)",
		Flags: func(fs *flag.FlagSet) {
			t.flags(fs)
			fs.BoolVar(&yes, "yes", false, "confirm: the object and its history are gone for good")
		},
		Run: func(ctx context.Context, args []string, std stdio) error {
			ns, id, err := objectArgs(args)
			if err != nil {
				return err
			}
			if !yes {
				return usagef("deleting cannot be undone, not even with a bookmark: add --yes")
			}
			return t.withClient(ctx, func(c *client) error {
				resp, err := c.do(ctx, "DELETE", objectPath(ns, id), nil, "")
				if err != nil {
					return err
				}
				resp.Body.Close()
				if t.json {
					return printJSON(std.Out, []byte(`{"deleted": true}`))
				}
				fmt.Fprintf(std.Out, "deleted %s %s\n", ns, id)
				return nil
			})
		},
	})
}
