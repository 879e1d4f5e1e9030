package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// devStopTimeout bounds the app's drain when den dev restarts or stops it;
// the app's own drain is bounded by 30 s (serve.ShutdownTimeout).
const devStopTimeout = 40 * time.Second

func init() {
	var dir string
	var poll time.Duration
	register(&command{
		Name: "dev",
		Args: "[flags] [-- APP FLAGS]",
		Summary: "build and run the Den app in the current directory, and rebuild and restart it when a source file changes, " +
			"keeping its data directory",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", ".", "the app's directory (its main package)")
			fs.DurationVar(&poll, "poll", 500*time.Millisecond, "how often to look for changed files")
		},
		Run: func(ctx context.Context, args []string, std stdio) error {
			if poll <= 0 {
				return usagef("--poll must be positive")
			}
			return dev(ctx, dir, poll, args, std)
		},
	})
}

// dev builds the app in dir and runs it with args, until ctx ends. Every
// poll it looks at the modification times and sizes of the files under dir
// (not hidden ones, not Den data directories); after a change it rebuilds
// and, if the build succeeds, stops the app (SIGTERM, so it drains) and
// starts the new one. A failed build is printed and the old app keeps
// running. The app runs in dir, in its own process group: a Ctrl-C reaches
// den dev alone, which stops the app once, cleanly.
//
// Polling rather than fsnotify: inotify watches one directory at a time
// (new directories must be added as they appear), has a per-user limit, and
// editors that save by renaming need care; a stat of an app's few files
// every half second costs microseconds and behaves the same everywhere.
func dev(ctx context.Context, dir string, poll time.Duration, args []string, std stdio) error {
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return fmt.Errorf("no go.mod in %s: run den dev in an app's directory (den init makes one)", dir)
	}
	bins, err := os.MkdirTemp("", "den-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bins)

	var app *devApp
	defer func() {
		if app != nil {
			app.stop(std)
		}
	}()
	builds := 0
	restart := func() {
		builds++
		bin := filepath.Join(bins, fmt.Sprintf("app-%d", builds%2)) // never overwrite the running binary
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			if ctx.Err() != nil {
				return
			}
			fmt.Fprintf(std.Err, "den dev: build failed (%v); waiting for a change\n%s", err, out)
			return
		}
		if app != nil {
			fmt.Fprintf(std.Err, "den dev: restarting\n")
			app.stop(std)
			app = nil
		}
		a, err := startApp(bin, dir, args, std)
		if err != nil {
			fmt.Fprintf(std.Err, "den dev: %v; waiting for a change\n", err)
			return
		}
		app = a
	}

	seen := scan(dir)
	restart()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		var exited <-chan struct{}
		if app != nil {
			exited = app.exited
		}
		select {
		case <-ctx.Done():
			return nil
		case <-exited:
			fmt.Fprintf(std.Err, "den dev: the app exited (%v); waiting for a change\n", app.err)
			app = nil
		case <-tick.C:
			now := scan(dir)
			if maps.Equal(now, seen) {
				continue
			}
			seen = now
			fmt.Fprintf(std.Err, "den dev: a file changed; rebuilding\n")
			restart()
		}
	}
}

// devApp is the app's running process. Its one goroutine waits for the
// process; stop waits for that goroutine.
type devApp struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited and err is set
	err    error
}

func startApp(bin, dir string, args []string, std stdio) (*devApp, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdin = nil
	cmd.Stdout = std.Out
	cmd.Stderr = std.Err
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the app: %w", err)
	}
	a := &devApp{cmd: cmd, exited: make(chan struct{})}
	go func() {
		a.err = cmd.Wait()
		close(a.exited)
	}()
	return a, nil
}

// stop asks the app to drain (SIGTERM) and waits for it, killing it after
// devStopTimeout.
func (a *devApp) stop(std stdio) {
	select {
	case <-a.exited:
		return
	default:
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(devStopTimeout):
		fmt.Fprintf(std.Err, "den dev: the app did not stop within %s; killing it\n", devStopTimeout)
		a.cmd.Process.Kill()
		<-a.exited
	}
}

// fileStamp is what scan compares: a change of either is a change.
type fileStamp struct {
	mod  time.Time
	size int64
}

// scan returns the stamp of every file under dir that can affect a build:
// it skips hidden files and directories (.git, .den, editors' swap files)
// and Den data directories (they hold a lock file), which change while the
// app runs.
func scan(dir string) map[string]fileStamp {
	out := map[string]fileStamp{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() && path != dir {
				return filepath.SkipDir
			}
			return nil
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if _, err := os.Stat(filepath.Join(path, "lock")); err == nil {
				return filepath.SkipDir
			} else if !errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return nil
		}
		if info, err := d.Info(); err == nil {
			out[path] = fileStamp{mod: info.ModTime(), size: info.Size()}
		}
		return nil
	})
	return out
}
