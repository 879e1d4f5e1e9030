package reminders

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/serve"
)

// Names of the app's class and binding.
const (
	ClassName = "Reminders"
	Binding   = "REMINDERS"
)

// Limits of the app.
const (
	MaxUserBytes    = 256              // longest user name
	MaxMessageBytes = 4096             // longest message
	MaxPending      = 1000             // pending reminders per user
	MaxAt           = 9999999999999999 // latest "at" (16 digits of Unix milliseconds, in the year 318857)
	maxBodyBytes    = 64 << 10
)

// Storage keys. Pending reminders sort by due time, then by id; delivered
// ones are keyed by the reminder's id, so a reminder can be delivered once.
const (
	nextIDKey        = "next-id"
	pendingPrefix    = "p:" // p:<at, 16 digits>:<id, 10 digits>
	deliveredPrefix  = "d:" // d:<id, 10 digits>
	pendingKeyFormat = "p:%016d:%010d"
)

// Reminder is a pending reminder: when it is due, in Unix milliseconds, and
// its message.
type Reminder struct {
	At      int64  `json:"at"`
	Message string `json:"message"`
}

// Delivered is a reminder that was delivered, and when (Unix milliseconds).
type Delivered struct {
	At          int64  `json:"at"`
	Message     string `json:"message"`
	DeliveredAt int64  `json:"delivered_at"`
}

// List is a user's reminders: pending ones by due time, delivered ones in
// the order they were delivered.
type List struct {
	Pending   []Reminder  `json:"pending"`
	Delivered []Delivered `json:"delivered"`
}

// App returns the reminders app, ready for serve.Main or serve.Start.
func App() serve.App {
	return serve.App{
		Name:     "reminders",
		Classes:  []den.Class{Class()},
		Bindings: map[string]string{Binding: ClassName},
		Worker:   Worker,
	}
}

// Class returns the Reminders class.
func Class() den.Class {
	return den.Class{
		Name: ClassName,
		New:  func(state den.State, env *den.Env) (any, error) { return &Reminders{state: state}, nil },
	}
}

// Reminders is one user's reminders. Its alarm is always set to the
// earliest pending reminder.
type Reminders struct {
	state den.State
}

// stored is a reminder as stored: its id travels with it.
type stored struct {
	ID          int64  `json:"id"`
	At          int64  `json:"at"`
	Message     string `json:"message"`
	DeliveredAt int64  `json:"delivered_at,omitempty"`
}

// Add stores a pending reminder and moves the alarm to the earliest pending
// one, all in one turn.
func (r *Reminders) Add(ctx context.Context, rem Reminder) (Reminder, error) {
	if err := check(rem); err != nil {
		return Reminder{}, err
	}
	s := r.state.Storage()
	pending, err := s.List(den.ListOptions{Prefix: pendingPrefix, Limit: MaxPending})
	if err != nil {
		return Reminder{}, err
	}
	if len(pending) >= MaxPending {
		return Reminder{}, den.Errorf(den.ELIMIT, "a user may have at most %d pending reminders", MaxPending)
	}
	id, _, err := den.GetJSON[int64](s, nextIDKey)
	if err != nil {
		return Reminder{}, err
	}
	id++
	if err := den.PutJSON(s, nextIDKey, id); err != nil {
		return Reminder{}, err
	}
	if err := den.PutJSON(s, fmt.Sprintf(pendingKeyFormat, rem.At, id), stored{ID: id, At: rem.At, Message: rem.Message}); err != nil {
		return Reminder{}, err
	}
	return rem, r.setAlarm()
}

// List returns the user's reminders.
func (r *Reminders) List(ctx context.Context) (List, error) {
	s := r.state.Storage()
	l := List{Pending: []Reminder{}, Delivered: []Delivered{}}
	pending, err := s.List(den.ListOptions{Prefix: pendingPrefix})
	if err != nil {
		return List{}, err
	}
	for _, e := range pending {
		var st stored
		if err := json.Unmarshal(e.Value, &st); err != nil {
			return List{}, err
		}
		l.Pending = append(l.Pending, Reminder{At: st.At, Message: st.Message})
	}
	delivered, err := s.List(den.ListOptions{Prefix: deliveredPrefix})
	if err != nil {
		return List{}, err
	}
	done := make([]stored, 0, len(delivered))
	for _, e := range delivered {
		var st stored
		if err := json.Unmarshal(e.Value, &st); err != nil {
			return List{}, err
		}
		done = append(done, st)
	}
	slices.SortStableFunc(done, func(a, b stored) int {
		return cmp.Or(cmp.Compare(a.DeliveredAt, b.DeliveredAt), cmp.Compare(a.At, b.At), cmp.Compare(a.ID, b.ID))
	})
	for _, st := range done {
		l.Delivered = append(l.Delivered, Delivered{At: st.At, Message: st.Message, DeliveredAt: st.DeliveredAt})
	}
	return l, nil
}

// Alarm moves every reminder that is due from pending to delivered and sets
// the alarm to the next one. It all happens in the alarm's turn, in one
// transaction with the deletion of the alarm: if the process dies before it
// commits, the alarm runs again and finds the same reminders pending; once
// it has committed, they are delivered and the alarm is gone. Alarms are
// delivered at least once; each reminder is delivered exactly once.
func (r *Reminders) Alarm(ctx context.Context, info den.AlarmInfo) error {
	s := r.state.Storage()
	now := time.Now().UnixMilli()
	due, err := s.List(den.ListOptions{Start: pendingPrefix, End: fmt.Sprintf(pendingKeyFormat, now+1, 0)})
	if err != nil {
		return err
	}
	for _, e := range due {
		var st stored
		if err := json.Unmarshal(e.Value, &st); err != nil {
			return err
		}
		key := deliveredPrefix + fmt.Sprintf("%010d", st.ID)
		if _, seen, err := s.Get(key); err != nil {
			return err
		} else if !seen { // by construction it never is: the id keys the delivery
			st.DeliveredAt = now
			if err := den.PutJSON(s, key, st); err != nil {
				return err
			}
		}
		if _, err := s.Delete(e.Key); err != nil {
			return err
		}
	}
	return r.setAlarm()
}

// setAlarm sets the alarm to the earliest pending reminder, or deletes it.
func (r *Reminders) setAlarm() error {
	s := r.state.Storage()
	first, err := s.List(den.ListOptions{Prefix: pendingPrefix, Limit: 1})
	if err != nil {
		return err
	}
	if len(first) == 0 {
		return s.DeleteAlarm()
	}
	at, err := strconv.ParseInt(strings.SplitN(strings.TrimPrefix(first[0].Key, pendingPrefix), ":", 2)[0], 10, 64)
	if err != nil {
		return den.Errorf(den.EINTERNAL, "bad pending key %q", first[0].Key)
	}
	return s.SetAlarm(time.UnixMilli(at))
}

func check(rem Reminder) error {
	switch {
	case rem.At <= 0 || rem.At > MaxAt:
		return den.Errorf(den.EINVALID, `"at" must be a time in Unix milliseconds, from 1 to %d`, int64(MaxAt))
	case len(rem.Message) > MaxMessageBytes:
		return den.Errorf(den.EINVALID, `"message" is longer than %d bytes`, MaxMessageBytes)
	}
	return nil
}

// Worker returns the front router:
//
//	POST /reminders/{user}  {"at": <unix ms>, "message": "..."}  201 and the reminder
//	GET  /reminders/{user}                                       200 and the List
func Worker(env *den.Env) http.Handler {
	ns := env.Namespace(Binding)
	stub := func(w http.ResponseWriter, r *http.Request) *den.Stub {
		user := r.PathValue("user")
		if user == "" || len(user) > MaxUserBytes {
			http.Error(w, "Bad Request: a user name is 1 to "+strconv.Itoa(MaxUserBytes)+" bytes", http.StatusBadRequest)
			return nil
		}
		return ns.GetByName(user)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /reminders/{user}", func(w http.ResponseWriter, r *http.Request) {
		s := stub(w, r)
		if s == nil {
			return
		}
		rem, err := decode(w, r)
		if err != nil {
			den.WriteError(w, err)
			return
		}
		rem, err = den.Call[Reminder](r.Context(), s, "Add", rem)
		if err != nil {
			den.WriteError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, rem)
	})
	mux.HandleFunc("GET /reminders/{user}", func(w http.ResponseWriter, r *http.Request) {
		s := stub(w, r)
		if s == nil {
			return
		}
		l, err := den.Call[List](r.Context(), s, "List")
		if err != nil {
			den.WriteError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, l)
	})
	return mux
}

// decode reads a reminder from the request body: a JSON object with an
// integer "at" (required) and a string "message".
func decode(w http.ResponseWriter, r *http.Request) (Reminder, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return Reminder{}, den.Errorf(den.ETOOLARGE, "the body is larger than %d bytes", maxBodyBytes)
	}
	if err != nil {
		return Reminder{}, den.Errorf(den.EINVALID, "read body: %v", err)
	}
	var in struct {
		At      *int64 `json:"at"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return Reminder{}, den.Errorf(den.EINVALID, `the body must be JSON like {"at": <unix ms>, "message": "..."}: %v`, err)
	}
	if in.At == nil {
		return Reminder{}, den.Errorf(den.EINVALID, `"at" is missing: the time the reminder is due, in Unix milliseconds`)
	}
	rem := Reminder{At: *in.At, Message: in.Message}
	return rem, check(rem)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		den.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
