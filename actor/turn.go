package actor

import (
	"context"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/den-run/den"
	"github.com/den-run/den/internal/reqlog"
)

// key names one object on this host.
type key struct {
	class string
	id    [32]byte
}

// event is one delivery to an object: an HTTP request or an RPC call.
type event struct {
	ctx    context.Context // the caller's: cancels the wait and is the turn's parent
	id     den.ID
	kind   den.EventKind
	chain  []key // objects waiting, in this call chain, for this event's result
	req    *http.Request
	method string
	args   []byte
	// run, when set, is the event: it runs as a turn with the object's
	// storage. With bare set the instance is not constructed for it (an
	// operator's query); otherwise obj is the live instance.
	run   func(ctx context.Context, obj any, st den.State) ([]byte, error)
	bare  bool
	reply chan result // buffered: the actor never blocks sending to it
	// done, when set, replaces reply: it is called with the result and
	// must not block (WebSocket events, whose sender does not wait).
	done func(error)
}

// send hands r to whoever waits for ev.
func (ev *event) send(r result) {
	if ev.done != nil {
		ev.done(r.err)
		return
	}
	ev.reply <- r
}

type result struct {
	resp *http.Response
	data []byte
	err  error
}

// turn is the running event, carried in the handler's context so an outgoing
// call knows which object is waiting and with which chain.
type turn struct {
	a     *actor
	st    *state
	chain []key
	ended atomic.Bool // set when the turn returns; a leaked context then carries no turn
	ws    wsMark      // where the turn's WebSocket outputs begin (websocket.go)
}

// withTurn returns ctx carrying t, under reqlog's key so that lines logged
// with it name the object.
func withTurn(ctx context.Context, t *turn) context.Context {
	return context.WithValue(ctx, reqlog.ObjectKey{}, t)
}

// LogObject names t's object in log lines (reqlog.Object).
func (t *turn) LogObject() (namespace, id string) { return t.a.ns.Binding(), t.a.id.String() }

// turnFrom returns the live turn ctx carries, or nil.
func turnFrom(ctx context.Context) *turn {
	t, _ := ctx.Value(reqlog.ObjectKey{}).(*turn)
	if t == nil || t.ended.Load() {
		return nil
	}
	return t
}

// chainFor returns the chain an outgoing call from t carries.
func (t *turn) chainFor() []key {
	c := make([]key, 0, len(t.chain)+1)
	c = append(c, t.chain...)
	return append(c, t.a.key)
}

func inChain(chain []key, k key) bool { return slices.Contains(chain, k) }
