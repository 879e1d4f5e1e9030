package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func init() {
	var t target
	var format string
	register(&command{
		Name:    "import",
		Args:    "[flags] NAMESPACE ID FILE",
		Summary: "replace an object's database with a SQLite file or JSON lines (- reads standard input); prints the bookmark that undoes it",
		Flags: func(fs *flag.FlagSet) {
			t.flags(fs)
			fs.StringVar(&format, "format", "sqlite", "sqlite or jsonl (the form den export writes)")
		},
		Run: func(ctx context.Context, args []string, std stdio) error {
			if len(args) != 3 {
				return usagef("want NAMESPACE, ID and FILE")
			}
			if format != "sqlite" && format != "jsonl" {
				return usagef("--format %q: want sqlite or jsonl", format)
			}
			ns, id, name := args[0], args[1], args[2]
			var in io.Reader = std.In
			var size int64
			if name != "-" {
				f, err := os.Open(name)
				if err != nil {
					return err
				}
				defer f.Close()
				if fi, err := f.Stat(); err == nil {
					size = fi.Size()
				}
				in = f
			}
			if format == "jsonl" {
				dir, err := os.MkdirTemp("", "den-import-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				tmp := filepath.Join(dir, "db.sqlite")
				if err := readJSONL(in, tmp); err != nil {
					return fmt.Errorf("import %s: %w", name, err)
				}
				f, err := os.Open(tmp)
				if err != nil {
					return err
				}
				defer f.Close()
				fi, _ := f.Stat()
				in, size = f, fi.Size()
			}
			return t.withClient(ctx, func(c *client) error {
				p := newProgress(std, t.progress, "import", size)
				resp, err := c.do(ctx, "POST", objectPath(ns, id)+"/import", p.reader(in), "application/vnd.sqlite3")
				p.finish()
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				raw, err := io.ReadAll(resp.Body)
				if err != nil {
					return err
				}
				if t.json {
					return printJSON(std.Out, raw)
				}
				var out undoReply
				if err := jsonUnmarshal(raw, &out); err != nil {
					return err
				}
				fmt.Fprintf(std.Out, "imported into %s\nundo with: den restore %s %s --bookmark %s\n", out.ID, ns, out.ID, out.Undo)
				return nil
			})
		},
	})
}
