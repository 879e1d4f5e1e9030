package serve

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/den-run/den/config"
)

// --storage-idle-timeout, DEN_STORAGE_IDLE_TIMEOUT: a duration, 0 closing an
// object's database with its instance; the default keeps it a minute.
func TestStorageIdleTimeoutSetting(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want time.Duration
	}{
		{nil, nil, DefaultStorageIdleTimeout},
		{[]string{"--storage-idle-timeout", "5m"}, nil, 5 * time.Minute},
		{nil, map[string]string{"DEN_STORAGE_IDLE_TIMEOUT": "90s"}, 90 * time.Second},
		{[]string{"--storage-idle-timeout=0"}, nil, CloseWithInstance},
	} {
		cfg, err := parse(App{}, tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if err != nil {
			t.Fatalf("%v %v: %v", tc.args, tc.env, err)
		}
		if cfg.StorageIdleTimeout == 0 {
			cfg.StorageIdleTimeout = DefaultStorageIdleTimeout // New applies the default
		}
		if cfg.StorageIdleTimeout != tc.want {
			t.Errorf("%v %v: %v, want %v", tc.args, tc.env, cfg.StorageIdleTimeout, tc.want)
		}
	}
	for _, bad := range []string{"soon", "-1s"} {
		if _, err := parse(App{}, []string{"--storage-idle-timeout", bad}, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("--storage-idle-timeout %s was accepted", bad)
		}
	}
}

// Every flag but --config and --admin-token (a secret does not belong in a
// committed file) has its key in the configuration file's den section.
func TestEveryFlagHasAConfigKey(t *testing.T) {
	for _, s := range settings {
		if s.flag == "config" || s.flag == "admin-token" {
			continue
		}
		if _, ok := config.SettingKeys[strings.ReplaceAll(s.flag, "-", "_")]; !ok {
			t.Errorf("--%s has no key den.%s in the configuration file", s.flag, strings.ReplaceAll(s.flag, "-", "_"))
		}
	}
}

// den.storage_idle_timeout in the file sets it.
func TestStorageIdleTimeoutFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wrangler.jsonc")
	if err := os.WriteFile(path, []byte(`{"den": {"storage_idle_timeout": "3m"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parse(App{}, []string{"--config", path}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StorageIdleTimeout != 3*time.Minute {
		t.Errorf("storage idle timeout %v, want 3m", cfg.StorageIdleTimeout)
	}
}
