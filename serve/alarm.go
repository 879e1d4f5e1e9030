package serve

import (
	"context"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/alarm"
	"github.com/den-run/den/sqlite"
)

// AlarmIndexFile is the node's schedule of alarms, under the data directory.
const AlarmIndexFile = "alarms.sqlite"

// openAlarmIndex opens the node's alarm schedule under data. If it is new
// (or its last rebuild was interrupted) it is rebuilt first from the alarm
// records of the object databases under objects; a database that cannot be
// read is skipped with an error log line.
func openAlarmIndex(ctx context.Context, data, objects string, log *slog.Logger) (*alarm.Index, error) {
	store := sqlite.NewStore(objects)
	idx := alarm.NewIndex(filepath.Join(data, AlarmIndexFile), alarm.IndexConfig{
		Logger: log,
		Scan: func(ctx context.Context, add func(alarm.Entry) error) error {
			return store.ScanAlarms(ctx, func(class string, id [32]byte, at time.Time, err error) error {
				if err != nil {
					log.Error("rebuild alarm index: skipping an object database that cannot be read", "class", class, "id", hex.EncodeToString(id[:]), "err", err)
					return nil
				}
				return add(alarm.Entry{Class: class, ID: id, At: at})
			})
		},
	})
	if err := idx.Open(ctx); err != nil {
		return nil, err
	}
	return idx, nil
}

// startAlarmRunner starts delivering the alarms of idx to host's objects.
func startAlarmRunner(idx *alarm.Index, host *actor.Host, env *den.Env, log *slog.Logger) (*alarm.Runner, error) {
	r := alarm.NewRunner(alarm.Config{Index: idx, Objects: host, Namespaces: env.Namespaces(), Logger: log})
	if err := r.Open(); err != nil {
		return nil, err
	}
	return r, nil
}

// AlarmStats returns the alarm runner's counters (deliveries, failures,
// abandoned alarms), or zeros if the server is not open.
func (s *Server) AlarmStats() alarm.Stats {
	s.mu.Lock()
	r := s.runner
	s.mu.Unlock()
	if r == nil {
		return alarm.Stats{}
	}
	return r.Stats()
}
