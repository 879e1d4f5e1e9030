package main

import (
	"context"
	"fmt"
	"text/tabwriter"
)

func init() {
	var t target
	register(&command{
		Name:    "namespaces",
		Summary: "list the namespaces: binding, class and number of objects",
		Flags:   t.flags,
		Run: func(ctx context.Context, args []string, std stdio) error {
			if len(args) > 0 {
				return usagef("takes no arguments")
			}
			return t.withClient(ctx, func(c *client) error {
				var out []struct {
					Name, Class string
					Objects     int
				}
				b, err := c.call(ctx, "GET", "/v1/namespaces", nil, &out)
				if err != nil || t.json {
					if err == nil {
						err = printJSON(std.Out, b)
					}
					return err
				}
				tw := tabwriter.NewWriter(std.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "NAMESPACE\tCLASS\tOBJECTS\n")
				for _, ns := range out {
					fmt.Fprintf(tw, "%s\t%s\t%d\n", ns.Name, ns.Class, ns.Objects)
				}
				return tw.Flush()
			})
		},
	})
}
