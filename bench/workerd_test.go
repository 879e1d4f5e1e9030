package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestWorkerdConfig(t *testing.T) {
	dir := t.TempDir()
	config, err := writeWorkerdConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(string(b), strconv.Quote(filepath.Join(dir, "storage")), `"STORAGE"`)
	golden(t, "config.capnp", got)
	js, err := os.ReadFile(filepath.Join(dir, "worker.js"))
	if err != nil || string(js) != string(workerJS) {
		t.Errorf("worker.js beside the config: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "storage")); err != nil || !fi.IsDir() {
		t.Errorf("no storage directory: %v", err)
	}
}
