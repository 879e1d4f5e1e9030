package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// workerdVersion is the workerd npm package the harness installs: pinned, so
// that runs compare against the same runtime.
const workerdVersion = "1.20261117.1"

// ensureWrk returns the path of wrk, installing Debian's package if it is
// missing (which needs root and apt-get).
func ensureWrk(ctx context.Context, log io.Writer) (string, error) {
	if p, err := exec.LookPath("wrk"); err == nil {
		return p, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		return "", fmt.Errorf("wrk is not installed and this is not root on Debian: install wrk and run again")
	}
	fmt.Fprintln(log, "installing wrk: apt-get install -y wrk")
	install := func() error {
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "wrk")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = log, log
		return cmd.Run()
	}
	if err := install(); err != nil {
		// The package lists may be missing or stale: refresh them once.
		update := exec.CommandContext(ctx, "apt-get", "update")
		update.Stdout, update.Stderr = log, log
		if err := update.Run(); err != nil {
			return "", fmt.Errorf("apt-get update: %w", err)
		}
		if err := install(); err != nil {
			return "", fmt.Errorf("apt-get install wrk: %w", err)
		}
	}
	return exec.LookPath("wrk")
}

// ensureWorkerd returns the path of the workerd binary of workerdVersion
// under cache, installing the npm package there if it is missing or another
// version. It runs the platform package's binary directly, not the node
// wrapper, so that the process measured is workerd itself.
func ensureWorkerd(ctx context.Context, cache string, log io.Writer) (string, error) {
	arch := map[string]string{"amd64": "64", "arm64": "arm64"}[runtime.GOARCH]
	if arch == "" || (runtime.GOOS != "linux" && runtime.GOOS != "darwin") {
		return "", fmt.Errorf("workerd has no npm binary for %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	pkg := filepath.Join(cache, "node_modules", "@cloudflare", "workerd-"+runtime.GOOS+"-"+arch)
	bin := filepath.Join(pkg, "bin", "workerd")
	if installedVersion(pkg) == workerdVersion {
		return bin, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", fmt.Errorf("npm is needed to install workerd: apt-get install -y npm, then run again")
	}
	fmt.Fprintf(log, "installing workerd %s: npm install --prefix %s workerd@%s\n", workerdVersion, cache, workerdVersion)
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", cache, "--no-audit", "--no-fund", "workerd@"+workerdVersion)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npm install workerd@%s: %w", workerdVersion, err)
	}
	if v := installedVersion(pkg); v != workerdVersion {
		return "", fmt.Errorf("npm installed workerd %q into %s, want %s", v, pkg, workerdVersion)
	}
	return bin, nil
}

// installedVersion returns the version in an npm package's package.json, or
// "" if there is none.
func installedVersion(pkg string) string {
	b, err := os.ReadFile(filepath.Join(pkg, "package.json"))
	if err != nil {
		return ""
	}
	var m struct{ Version string }
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	return m.Version
}
