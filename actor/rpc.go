package actor

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"

	"github.com/den-run/den"
)

// method is an exported method callable over RPC:
// func (o *T) Name([ctx context.Context,] args...) ([R,] [error]).
type method struct {
	fn        reflect.Method
	hasCtx    bool
	in        []reflect.Type // argument types after ctx
	hasResult bool
	hasErr    bool
}

var (
	ctxType   = reflect.TypeFor[context.Context]()
	errorType = reflect.TypeFor[error]()
	methods   sync.Map // methodKey → *method or *den.Error
)

type methodKey struct {
	t    reflect.Type
	name string
}

// lookupMethod finds name on t, caching the answer.
func lookupMethod(t reflect.Type, name string) (*method, error) {
	k := methodKey{t, name}
	if v, ok := methods.Load(k); ok {
		if m, ok := v.(*method); ok {
			return m, nil
		}
		return nil, v.(*den.Error)
	}
	m, err := inspectMethod(t, name)
	if err != nil {
		methods.Store(k, err)
		return nil, err
	}
	methods.Store(k, m)
	return m, nil
}

func inspectMethod(t reflect.Type, name string) (*method, *den.Error) {
	fn, ok := t.MethodByName(name)
	if !ok || !fn.IsExported() {
		return nil, den.Errorf(den.ENOTFOUND, "The RPC receiver does not implement the method %q.", name)
	}
	ft := fn.Type // receiver first
	m := &method{fn: fn}
	if ft.IsVariadic() {
		return nil, den.Errorf(den.EINVALID, "method %q is variadic and cannot be called over RPC", name)
	}
	for i := 1; i < ft.NumIn(); i++ {
		if i == 1 && ft.In(i) == ctxType {
			m.hasCtx = true
			continue
		}
		m.in = append(m.in, ft.In(i))
	}
	switch ft.NumOut() {
	case 0:
	case 1:
		if ft.Out(0) == errorType {
			m.hasErr = true
		} else {
			m.hasResult = true
		}
	case 2:
		if ft.Out(1) != errorType {
			return nil, den.Errorf(den.EINVALID, "method %q cannot be called over RPC: its second result must be error", name)
		}
		m.hasResult, m.hasErr = true, true
	default:
		return nil, den.Errorf(den.EINVALID, "method %q cannot be called over RPC: it returns more than a result and an error", name)
	}
	return m, nil
}

// call runs an RPC event on the live instance.
func (a *actor) call(ctx context.Context, ev *event) ([]byte, error) {
	m, err := lookupMethod(reflect.TypeOf(a.obj), ev.method)
	if err != nil {
		return nil, a.errorf(den.AsError(err))
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(ev.args, &raw); err != nil {
		return nil, a.errorf(den.Errorf(den.EINVALID, "RPC arguments for %q are not a JSON array: %v", ev.method, err))
	}
	if len(raw) != len(m.in) {
		return nil, a.errorf(den.Errorf(den.EINVALID, "method %q takes %d arguments, but %d were provided", ev.method, len(m.in), len(raw)))
	}
	in := make([]reflect.Value, 0, len(m.in)+2)
	in = append(in, reflect.ValueOf(a.obj))
	if m.hasCtx {
		in = append(in, reflect.ValueOf(ctx))
	}
	for i, t := range m.in {
		v := reflect.New(t)
		if err := json.Unmarshal(raw[i], v.Interface()); err != nil {
			return nil, a.errorf(den.Errorf(den.EINVALID, "argument %d of %q: %v", i+1, ev.method, err))
		}
		in = append(in, v.Elem())
	}
	out := m.fn.Func.Call(in)
	if m.hasErr {
		if e := out[len(out)-1]; !e.IsNil() {
			return nil, a.remote(e.Interface().(error))
		}
	}
	if !m.hasResult {
		return []byte("null"), nil
	}
	b, err := den.EncodeResult(out[0].Interface())
	if err != nil {
		return nil, a.remote(err)
	}
	return b, nil
}

// roundTrip serializes e as it would cross machines, so callers in the same
// process see exactly what a remote caller would.
func roundTrip(e *den.Error) error {
	b, err := json.Marshal(e)
	if err != nil {
		return e
	}
	var out den.Error
	if err := json.Unmarshal(b, &out); err != nil {
		return e
	}
	return &out
}
