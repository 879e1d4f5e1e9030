package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/den-run/den"
)

func init() {
	var t target
	register(&command{
		Name:    "show",
		Args:    "[flags] NAMESPACE ID",
		Summary: "show one object: size, alarm, last write and the span of its history",
		Flags:   t.flags,
		Run: func(ctx context.Context, args []string, std stdio) error {
			ns, id, err := objectArgs(args)
			if err != nil {
				return err
			}
			return t.withClient(ctx, func(c *client) error {
				var obj objectInfo
				if _, err := c.call(ctx, "GET", objectPath(ns, id), nil, &obj); err != nil {
					return err
				}
				var hist den.HistoryInfo
				if _, err := c.call(ctx, "GET", objectPath(ns, id)+"/history", nil, &hist); err != nil {
					var ae *apiError
					if !errors.As(err, &ae) || ae.status != http.StatusNotImplemented {
						return err
					}
				}
				if t.json {
					b, _ := json.Marshal(struct {
						objectInfo
						History den.HistoryInfo `json:"history"`
					}{obj, hist})
					return printJSON(std.Out, b)
				}
				alarm := "none"
				if obj.Alarm != nil {
					alarm = *obj.Alarm
				}
				fmt.Fprintf(std.Out, "id:          %s\n", obj.ID)
				if obj.Name != "" {
					fmt.Fprintf(std.Out, "name:        %s\n", obj.Name)
				}
				fmt.Fprintf(std.Out, "state:       %s\n", obj.State)
				fmt.Fprintf(std.Out, "size:        %s (%d bytes)\n", bytesText(obj.Bytes), obj.Bytes)
				fmt.Fprintf(std.Out, "last write:  %s\n", obj.LastActive)
				fmt.Fprintf(std.Out, "alarm:       %s\n", alarm)
				if hist.Newest != "" {
					o, _ := den.ParseBookmark(hist.Oldest)
					n, _ := den.ParseBookmark(hist.Newest)
					fmt.Fprintf(std.Out, "history:     %s to %s, %s, kept %s\n", o.Time.UTC().Format("2006-01-02T15:04:05.000Z"), n.Time.UTC().Format("2006-01-02T15:04:05.000Z"), bytesText(hist.Bytes), hist.Retention)
					fmt.Fprintf(std.Out, "oldest:      %s\n", hist.Oldest)
					fmt.Fprintf(std.Out, "newest:      %s\n", hist.Newest)
				} else {
					fmt.Fprintf(std.Out, "history:     none\n")
				}
				return nil
			})
		},
	})
}
