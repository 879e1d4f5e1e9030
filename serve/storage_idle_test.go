package serve

import (
	"io"
	"testing"
	"time"
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
