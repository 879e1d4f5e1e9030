package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/serve"
)

// Names of the app's class, binding and variables.
const (
	ClassName = "RateLimiter"
	Binding   = "RATE_LIMITER"
	VarMax    = "RATE_LIMIT_MAX"
	VarWindow = "RATE_LIMIT_WINDOW_SECONDS"
)

// Limits when wrangler.jsonc does not set them (it does: the same values).
const (
	DefaultMax    = 100
	DefaultWindow = 60 * time.Second
)

// MaxKeyBytes is the longest key.
const MaxKeyBytes = 512

// hitsKey is the storage key of a limiter's recent requests.
const hitsKey = "hits"

// App returns the rate limiter app with its embedded wrangler.jsonc; now is
// its clock.
func App(now func() time.Time) serve.App {
	return serve.App{
		Name: "ratelimit",
		Classes: []den.Class{{
			Name: ClassName,
			New: func(state den.State, env *den.Env) (any, error) {
				return &RateLimiter{state: state, now: now}, nil
			},
		}},
		ConfigFile: configFile,
		Worker:     Worker,
	}
}

// Decision is a limiter's answer to one request.
type Decision struct {
	Allowed bool `json:"allowed"`
	// RetryAfter is, when not allowed, the whole seconds until a slot
	// frees (at least 1).
	RetryAfter int `json:"retryAfter,omitempty"`
}

// RateLimiter is one key's sliding window: the times, in Unix
// milliseconds and in order, of the requests it allowed in the last window.
type RateLimiter struct {
	state den.State
	now   func() time.Time
}

// Hit decides one request: allowed if fewer than max requests were allowed
// in the window that ends now, and then counted. A refused request does not
// count.
func (l *RateLimiter) Hit(ctx context.Context, max int, windowMillis int64) (Decision, error) {
	if max < 1 || windowMillis < 1 {
		return Decision{}, den.Errorf(den.EINVALID, "limit %d in %d ms: want at least 1 request in at least 1 ms", max, windowMillis)
	}
	hits, _, err := den.GetJSON[[]int64](l.state.Storage(), hitsKey)
	if err != nil {
		return Decision{}, err
	}
	now := l.now().UnixMilli()
	expired := 0
	for expired < len(hits) && hits[expired] <= now-windowMillis {
		expired++
	}
	live := hits[expired:]
	if len(live) >= max {
		// The oldest request in the window leaves it first.
		wait := live[len(live)-max] + windowMillis - now
		return Decision{RetryAfter: int((wait + 999) / 1000)}, nil
	}
	return Decision{Allowed: true}, den.PutJSON(l.state.Storage(), hitsKey, append(live, now))
}

// Limits returns the limit the app's variables set: at most max requests per
// key in any window.
func Limits(env *den.Env) (max int, window time.Duration, err error) {
	max, err = intVar(env, VarMax, DefaultMax)
	if err != nil {
		return 0, 0, err
	}
	secs, err := intVar(env, VarWindow, int(DefaultWindow/time.Second))
	if err != nil {
		return 0, 0, err
	}
	return max, time.Duration(secs) * time.Second, nil
}

func intVar(env *den.Env, name string, def int) (int, error) {
	v, ok := env.Var(name)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("var %s is %q: want a whole number of at least 1 (in wrangler.jsonc's vars)", name, v)
	}
	return n, nil
}

// Worker returns the front router: GET /limited/{key} answers 200 "OK"
// until the key has made max requests in the sliding window, then 429 with
// Retry-After. With bad limits in its variables it answers every request
// 500, saying which.
func Worker(env *den.Env) http.Handler {
	ns := env.Namespace(Binding)
	max, window, err := Limits(env)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /limited/{key}", func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			http.Error(w, "Internal Server Error: "+err.Error(), http.StatusInternalServerError)
			return
		}
		key := r.PathValue("key")
		if len(key) > MaxKeyBytes {
			http.Error(w, "Bad Request: a key is 1 to "+strconv.Itoa(MaxKeyBytes)+" bytes", http.StatusBadRequest)
			return
		}
		d, err := den.Call[Decision](r.Context(), ns.GetByName(key), "Hit", max, window.Milliseconds())
		if err != nil {
			den.WriteError(w, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !d.Allowed {
			w.Header().Set("Retry-After", strconv.Itoa(d.RetryAfter))
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte("Too Many Requests"))
			return
		}
		w.Write([]byte("OK"))
	})
	return mux
}
