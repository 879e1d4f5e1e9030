package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
)

func init() {
	var t target
	register(&command{
		Name:    "sql",
		Args:    "[flags] NAMESPACE ID SQL [PARAM...]",
		Summary: "run SQL against one object, in its sandbox; each PARAM is JSON (1, null, {\"base64\": \"...\"}) or else a string",
		Flags:   t.flags,
		Run: func(ctx context.Context, args []string, std stdio) error {
			if len(args) < 3 {
				return usagef("want NAMESPACE, ID and SQL")
			}
			params := make([]json.RawMessage, 0, len(args)-3)
			for _, p := range args[3:] {
				if json.Valid([]byte(p)) {
					params = append(params, json.RawMessage(p))
				} else {
					b, _ := json.Marshal(p)
					params = append(params, b)
				}
			}
			return t.withClient(ctx, func(c *client) error {
				var res struct {
					Columns     []string
					Rows        [][]any
					RowsRead    int64
					RowsWritten int64
				}
				b, err := c.call(ctx, "POST", objectPath(args[0], args[1])+"/sql", map[string]any{"sql": args[2], "params": params}, &res)
				if err != nil || t.json {
					if err == nil {
						err = printJSON(std.Out, b)
					}
					return err
				}
				tw := tabwriter.NewWriter(std.Out, 0, 4, 2, ' ', 0)
				if len(res.Columns) > 0 {
					fmt.Fprintln(tw, strings.Join(res.Columns, "\t"))
				}
				for _, row := range res.Rows {
					cells := make([]string, len(row))
					for i, v := range row {
						if v == nil {
							cells[i] = "NULL"
						} else if s, ok := v.(string); ok {
							cells[i] = s
						} else {
							b, _ := json.Marshal(v)
							cells[i] = string(b)
						}
					}
					fmt.Fprintln(tw, strings.Join(cells, "\t"))
				}
				tw.Flush()
				fmt.Fprintf(std.Err, "%d rows read, %d written\n", res.RowsRead, res.RowsWritten)
				return nil
			})
		},
	})
}
