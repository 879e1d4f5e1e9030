package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/den-run/den/usage"
)

// usageFlags are den usage's flags.
type usageFlags struct {
	admin, token, data, namespace, object, from, to string
	json                                            bool
}

var usageArgs usageFlags

func init() {
	register(&command{
		Name:    "usage",
		Args:    "[flags]",
		Summary: "show a running server's usage and its estimated bill at Cloudflare's list prices",
		Flags: func(fs *flag.FlagSet) {
			usageArgs = usageFlags{}
			fs.StringVar(&usageArgs.admin, "admin", "http://127.0.0.1:8788", "the server's admin API")
			fs.StringVar(&usageArgs.token, "token", "", "admin token; default $DEN_ADMIN_TOKEN, else DATA/admin.token")
			fs.StringVar(&usageArgs.data, "data", "./.den", "data directory, to read admin.token from")
			fs.StringVar(&usageArgs.namespace, "namespace", "", "one namespace (binding name); default all")
			fs.StringVar(&usageArgs.object, "object", "", "one object of --namespace: its ID or name:NAME")
			fs.StringVar(&usageArgs.from, "from", "", "start: RFC 3339 time, date (2026-11-02) or duration ago (24h); default a day before --to")
			fs.StringVar(&usageArgs.to, "to", "", "end, the same forms; default now")
			fs.BoolVar(&usageArgs.json, "json", false, "print the report as JSON")
		},
		Run: func(ctx context.Context, args []string, std stdio) error {
			if len(args) > 0 {
				return usagef("takes no arguments")
			}
			return runUsage(ctx, usageArgs, std)
		},
	})
}

func runUsage(ctx context.Context, f usageFlags, std stdio) error {
	token := f.token
	if token == "" {
		token = os.Getenv("DEN_ADMIN_TOKEN")
	}
	if token == "" {
		b, err := os.ReadFile(filepath.Join(f.data, "admin.token"))
		if err != nil {
			return usagef("no admin token: pass --token, set DEN_ADMIN_TOKEN, or --data for the directory holding admin.token (%v)", err)
		}
		token = strings.TrimSpace(string(b))
	}
	q := url.Values{}
	for k, v := range map[string]string{"namespace": f.namespace, "object": f.object, "from": f.from, "to": f.to} {
		if v != "" {
			q.Set(k, v)
		}
	}
	u := strings.TrimRight(f.admin, "/") + "/v1/usage"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return usagef("bad --admin %q: %v", f.admin, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reach the admin API at %s (is the server running with --admin-addr?): %w", f.admin, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.Unmarshal(body, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		return fmt.Errorf("%s: %s", resp.Status, e.Error)
	}
	if f.json {
		_, err := std.Out.Write(body)
		return err
	}
	var r usage.Report
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("decode the report: %w", err)
	}
	printReport(std.Out, &r)
	return nil
}

// printReport writes r as a table: each namespace, then the total.
func printReport(w io.Writer, r *usage.Report) {
	fmt.Fprintf(w, "Usage from %s to %s (UTC), priced at Cloudflare's list prices of %s\n(%s, before the monthly included amounts).\n",
		r.From.UTC().Format("2006-01-02 15:04"), r.To.UTC().Format("2006-01-02 15:04"), r.Prices.Date, r.Prices.Plan)
	for _, ns := range r.Namespaces {
		fmt.Fprintf(w, "\n%s (%s)\n", ns.Namespace, ns.Class)
		printUsage(w, ns.Usage, ns.Bill)
		if len(ns.Objects) > 0 {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "  object\tname\trequests\tGB-s\trows written\tcost\t\n")
			for _, o := range ns.Objects {
				fmt.Fprintf(tw, "  %s…\t%s\t%s\t%.3f\t%d\t$%.6f\t\n", o.ID[:16], o.Name, num(o.Usage.Requests), o.Usage.DurationGBs, o.Usage.RowsWritten, o.Bill.Total)
			}
			tw.Flush()
		}
	}
	if len(r.Namespaces) != 1 {
		fmt.Fprintf(w, "\nTotal\n")
		printUsage(w, r.Usage, r.Bill)
	}
}

func printUsage(w io.Writer, u usage.Usage, b usage.Bill) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  requests\t%s\t$%.6f\t(HTTP %d, RPC %d, alarms %d, WebSocket messages %d at 20:1)\n", num(u.Requests), b.Requests, u.HTTP, u.RPC, u.Alarms, u.WebSocketMessages)
	fmt.Fprintf(tw, "  duration\t%.3f GB-s\t$%.6f\t(%.1f s in memory with work, × 0.128 GB)\n", u.DurationGBs, b.Duration, u.BusySeconds)
	fmt.Fprintf(tw, "  rows read\t%d\t$%.6f\t\n", u.RowsRead, b.RowsRead)
	fmt.Fprintf(tw, "  rows written\t%d\t$%.6f\t\n", u.RowsWritten, b.RowsWritten)
	fmt.Fprintf(tw, "  stored\t%d bytes\t$%.6f\t(%.6f GB-months)\n", u.StoredBytes, b.Storage, u.StoredGBMonths)
	fmt.Fprintf(tw, "  estimated bill\t\t$%.6f\t\n", b.Total)
	fmt.Fprintf(tw, "  saved by hibernation\t%.3f GB-s\t$%.6f\t(%.1f s out of memory with WebSockets connected)\n", u.HibernatedGBs, b.HibernationSaved, u.HibernatedSeconds)
	tw.Flush()
}

func num(x float64) string {
	if x == float64(int64(x)) {
		return fmt.Sprintf("%d", int64(x))
	}
	return fmt.Sprintf("%.2f", x)
}
