package den

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes. The gateway alone maps them to HTTP statuses.
const (
	EINTERNAL    = "internal"    // a bug or an unexpected failure (500)
	EINVALID     = "invalid"     // the caller's input is wrong (400)
	ENOTFOUND    = "not_found"   // no such namespace, method or thing (404)
	ELIMIT       = "limit"       // a documented limit was exceeded (400)
	ETOOLARGE    = "too_large"   // a request body over its limit (413)
	EOVERLOADED  = "overloaded"  // too much queued: do not retry at once (503)
	EUNAVAILABLE = "unavailable" // transient: retry an idempotent call (503)
	ETIMEOUT     = "timeout"     // a deadline passed (504)
	ECANCELED    = "canceled"    // the caller went away
)

// Error is the one error type that crosses an object's boundary. Its fields
// tell a caller what to do: Remote errors came from the object's own code,
// Retryable ones are transient, Overloaded ones must not be retried at once,
// and Reset means the object lost its in-memory state.
//
// Errors are serialized even in-process, so only the exported fields survive
// a call; a wrapped cause is kept for errors.Is on the side that made it.
type Error struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	Remote     bool   `json:"remote,omitempty"`
	Retryable  bool   `json:"retryable,omitempty"`
	Overloaded bool   `json:"overloaded,omitempty"`
	Reset      bool   `json:"durableObjectReset,omitempty"`
	ObjectID   string `json:"durableObjectId,omitempty"`

	cause error
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause the error was made with, if any.
func (e *Error) Unwrap() error { return e.cause }

// Errorf returns an *Error with code and a formatted message; %w wraps a cause.
func Errorf(code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), cause: errors.Unwrap(err)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EINTERNAL
}

// AsError returns err as an *Error, wrapping a plain error as EINTERNAL.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	return &Error{Code: EINTERNAL, Message: err.Error(), cause: err}
}

// IsRetryable reports whether err is transient, so an idempotent call may be
// retried with backoff through a new stub.
func IsRetryable(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Retryable
}

// IsOverloaded reports whether err means the object is overloaded.
func IsOverloaded(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Overloaded
}

// IsRemote reports whether err came from the object's own code.
func IsRemote(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Remote
}

// Messages of the runtime's own errors, as Cloudflare words them.
const (
	MsgOverloadedQueue = "Durable Object is overloaded. Too many requests queued."
	MsgAbort           = "Application called abort() to reset Durable Object."
	MsgBlockTimeout    = "A call to blockConcurrencyWhile() in a Durable Object waited for too long. The call was canceled and the Durable Object was reset."
	MsgReset           = "Durable Object reset because its code threw an unrecoverable error."
	MsgShuttingDown    = "Connection closed: this Durable Object instance is no longer active. Reconnect or retry the request."
)

// HTTPStatus returns the HTTP status for err's code. It is the one mapping
// from codes to statuses, shared by the gateway and by [Stub.ServeHTTP].
func HTTPStatus(err error) int {
	switch ErrorCode(err) {
	case "":
		return http.StatusOK
	case EINVALID, ELIMIT:
		return http.StatusBadRequest
	case ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case ENOTFOUND:
		return http.StatusNotFound
	case EOVERLOADED, EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case ETIMEOUT:
		return http.StatusGatewayTimeout
	case ECANCELED:
		return 499 // client closed request
	default:
		return http.StatusInternalServerError
	}
}
