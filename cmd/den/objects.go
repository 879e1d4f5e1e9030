package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"
)

// objectInfo is one object as the listing API describes it.
type objectInfo struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Bytes      int64   `json:"bytes"`
	State      string  `json:"state"`
	LastActive string  `json:"last_active"`
	Alarm      *string `json:"alarm"`
	WebSockets int     `json:"websockets"`
}

func init() {
	var t target
	var limit int
	var cursor string
	var all bool
	register(&command{
		Name:    "objects",
		Args:    "[flags] NAMESPACE",
		Summary: "list a namespace's objects, a page at a time (--all for every page)",
		Flags: func(fs *flag.FlagSet) {
			t.flags(fs)
			fs.IntVar(&limit, "limit", 100, "objects per page (1 to 1000)")
			fs.StringVar(&cursor, "cursor", "", "start after this cursor (printed after a full page)")
			fs.BoolVar(&all, "all", false, "fetch every page")
		},
		Run: func(ctx context.Context, args []string, std stdio) error {
			if len(args) != 1 {
				return usagef("want one NAMESPACE")
			}
			return t.withClient(ctx, func(c *client) error {
				tw := tabwriter.NewWriter(std.Out, 0, 4, 2, ' ', 0)
				if !t.json {
					fmt.Fprintf(tw, "ID\tNAME\tBYTES\tSTATE\tLAST ACTIVE\tALARM\n")
				}
				cur := cursor
				for {
					q := "?limit=" + strconv.Itoa(limit)
					if cur != "" {
						q += "&cursor=" + url.QueryEscape(cur)
					}
					var page struct {
						Objects []objectInfo `json:"objects"`
						Cursor  *string      `json:"cursor"`
					}
					b, err := c.call(ctx, "GET", "/v1/namespaces/"+url.PathEscape(args[0])+"/objects"+q, nil, &page)
					if err != nil {
						return err
					}
					if t.json {
						if err := printJSON(std.Out, b); err != nil {
							return err
						}
					} else {
						for _, o := range page.Objects {
							alarm := "-"
							if o.Alarm != nil {
								alarm = *o.Alarm
							}
							fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.Name, bytesText(o.Bytes), o.State, o.LastActive, alarm)
						}
					}
					if page.Cursor == nil || *page.Cursor == "" {
						break
					}
					if !all {
						if !t.json {
							tw.Flush()
							fmt.Fprintf(std.Err, "more: --cursor %s (or --all)\n", *page.Cursor)
						}
						break
					}
					cur = *page.Cursor
				}
				return tw.Flush()
			})
		},
	})
}
