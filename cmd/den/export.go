package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
)

func init() {
	var t target
	var bookmark, at, format, out string
	register(&command{
		Name:    "export",
		Args:    "[flags] NAMESPACE ID",
		Summary: "write a consistent copy of an object's database (now, at --bookmark or --at) as a SQLite file or JSON lines",
		Flags: func(fs *flag.FlagSet) {
			t.flags(fs)
			fs.StringVar(&format, "format", "sqlite", "sqlite (a database file) or jsonl (JSON lines: schema, rows, key-value pairs, alarm)")
			fs.StringVar(&out, "o", "", "write to this file (default: standard output)")
			fs.StringVar(&bookmark, "bookmark", "", "export the state at this bookmark")
			fs.StringVar(&at, "at", "", "or at this time: Unix milliseconds or RFC 3339")
		},
		Run: func(ctx context.Context, args []string, std stdio) error {
			ns, id, err := objectArgs(args)
			if err != nil {
				return err
			}
			if format != "sqlite" && format != "jsonl" {
				return usagef("--format %q: want sqlite or jsonl", format)
			}
			if out == "" && format == "sqlite" && isTerminal(std.Out) {
				return usagef("will not write a database file to a terminal: use -o FILE or redirect")
			}
			return t.withClient(ctx, func(c *client) error {
				b, err := when(ctx, c, ns, id, bookmark, at)
				if err != nil {
					return err
				}
				path := objectPath(ns, id) + "/export"
				if b != "" {
					path += "?bookmark=" + url.QueryEscape(b)
				}
				resp, err := c.do(ctx, "GET", path, nil, "")
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				p := newProgress(std, t.progress, "export", resp.ContentLength)
				var w io.Writer = std.Out
				var file *os.File
				if out != "" {
					if file, err = os.Create(out); err != nil {
						return err
					}
					defer file.Close()
					w = file
				}
				if format == "sqlite" {
					n, err := io.Copy(p.writer(w), resp.Body)
					p.finish()
					if err != nil {
						return fmt.Errorf("export: %w", err)
					}
					if file != nil {
						if err := file.Close(); err != nil {
							return err
						}
						if !t.json {
							fmt.Fprintf(std.Err, "wrote %s (%s)\n", out, bytesText(n))
						}
					}
					return nil
				}
				// JSON lines: fetch the database file, then convert it.
				dir, err := os.MkdirTemp("", "den-export-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				tmp := filepath.Join(dir, "db.sqlite")
				f, err := os.Create(tmp)
				if err != nil {
					return err
				}
				_, err = io.Copy(p.writer(f), resp.Body)
				p.finish()
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return fmt.Errorf("export: %w", err)
				}
				if err := writeJSONL(tmp, w); err != nil {
					return fmt.Errorf("export: %w", err)
				}
				if file != nil {
					return file.Close()
				}
				return nil
			})
		},
	})
}
