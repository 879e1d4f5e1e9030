// Package gateway serves a Den app over HTTP.
//
// A [Server] listens on a TCP address (loopback by default), hands every
// request to the app's worker (its front router) and adds what every
// request needs on the way: a structured access log, a cap on header and body
// sizes, timeouts against slow clients, and recovery from a panicking
// handler. Close drains gracefully: it stops accepting connections and waits
// for the requests in flight.
//
// Errors reach clients through [den.WriteError], so an error code maps to an
// HTTP status in one place ([den.HTTPStatus]); the gateway adds only the
// statuses of its own limits (413 for a body, 431 for headers).
package gateway
