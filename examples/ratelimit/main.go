// Command ratelimit serves the rate limiter example app: a sliding-window
// limit per key, one Durable Object per key. Run it with --help for its
// flags.
//
//	go run ./examples/ratelimit --data /tmp/ratelimit
//	curl -i localhost:8787/limited/ann   # 200 OK, until ann has made 100
//	                                     # requests in 60 s; then 429 with Retry-After
//
// The limits are vars in wrangler.jsonc, which the program embeds.
package main

import (
	_ "embed"
	"time"

	"github.com/den-run/den/serve"
)

// configFile is the app's wrangler.jsonc.
//
//go:embed wrangler.jsonc
var configFile []byte

func main() { serve.Main(App(time.Now)) }
