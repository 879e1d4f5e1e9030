package proc_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/den-run/den/internal/proc"
)

// TestMain fails the package if any test leaks a goroutine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDenListening(t *testing.T) {
	for line, want := range map[string]string{
		"den: listening on http://127.0.0.1:43127\n": "127.0.0.1:43127",
		"den: listening on http://":                  "",
		"time=... level=INFO msg=listening":          "",
	} {
		got, ok := proc.DenListening(line)
		if got != want || ok != (want != "") {
			t.Errorf("DenListening(%q) = %q, %v; want %q", line, got, ok, want)
		}
	}
}

func TestWorkerdListening(t *testing.T) {
	for line, want := range map[string]string{
		`{"event":"listen","socket":"http","port":41403}`:  "127.0.0.1:41403",
		`{"event":"listen","socket":"admin","port":41404}`: "",
		`{"event":"listen","socket":"http","port":0}`:      "",
		`not json`: "",
	} {
		got, ok := proc.WorkerdListening(line)
		if got != want || ok != (want != "") {
			t.Errorf("WorkerdListening(%s) = %q, %v; want %q", line, got, ok, want)
		}
	}
}

// TestCPUTime reads the CPU time of a shell that counted to 100,000 before
// it announced itself.
func TestCPUTime(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := proc.Start(ctx, proc.Spec{
		Path:  sh,
		Args:  []string{"-c", `trap 'exit 0' TERM; i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo "den: listening on http://127.0.0.1:1"; while :; do sleep 0.05; done`},
		Ready: proc.DenListening,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(ctx)
	if d := p.CPUTime(); d <= 0 || d > time.Minute {
		t.Errorf("CPUTime = %v after counting to 100,000", d)
	}
}

func TestParseVmHWM(t *testing.T) {
	status := "Name:\tcounter\nVmPeak:\t 1270004 kB\nVmHWM:\t   19432 kB\nVmRSS:\t   19432 kB\n"
	if n, err := proc.ParseVmHWM(status); err != nil || n != 19432<<10 {
		t.Errorf("ParseVmHWM = %d, %v; want %d", n, err, 19432<<10)
	}
	for _, bad := range []string{"Name:\tx\n", "VmHWM:\t 12 MB\n", "VmHWM:\t x kB\n"} {
		if _, err := proc.ParseVmHWM(bad); err == nil {
			t.Errorf("ParseVmHWM(%q) succeeded", bad)
		}
	}
}

// TestStart runs a shell that announces an address, reads its peak RSS and
// stops it; and one that exits before announcing anything.
func TestStart(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := proc.Start(ctx, proc.Spec{
		Path:  sh,
		Args:  []string{"-c", `trap 'exit 0' TERM; echo starting; echo "den: listening on http://127.0.0.1:1"; while :; do sleep 0.05; done`},
		Ready: proc.DenListening,
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Addr() != "127.0.0.1:1" || p.URL() != "http://127.0.0.1:1" {
		t.Errorf("address %q", p.Addr())
	}
	if _, err := os.Stat("/proc/self/status"); err == nil {
		if n, err := p.PeakRSS(); err != nil || n <= 0 {
			t.Errorf("PeakRSS = %d, %v", n, err)
		}
	}
	if err := p.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}

	_, err = proc.Start(ctx, proc.Spec{Path: sh, Args: []string{"-c", "echo oops >&2; exit 3"}, Ready: proc.DenListening})
	if err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("a program that exits at once: %v", err)
	}
}

// TestStartControlFD reads the ready line from descriptor 3, as workerd
// writes it with --control-fd 3.
func TestStartControlFD(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := proc.Start(ctx, proc.Spec{
		Path:      sh,
		Args:      []string{"-c", `echo "den: listening on http://wrong"; echo "ready 127.0.0.1:2" >&3; exec sleep 30`},
		ControlFD: true,
		Ready:     func(line string) (string, bool) { return strings.CutPrefix(line, "ready ") },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if p.Addr() != "127.0.0.1:2" {
		t.Errorf("address %q, want the one from descriptor 3", p.Addr())
	}
}

func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := proc.Build(ctx, dir, "github.com/den-run/den/bench/ceiling")
	if err != nil {
		t.Fatal(err)
	}
	if bin != filepath.Join(dir, "ceiling") {
		t.Errorf("binary at %s", bin)
	}
	if _, err := proc.Build(ctx, dir, "github.com/den-run/den/no/such/package"); err == nil {
		t.Error("built a package that does not exist")
	}
}
