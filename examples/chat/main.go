// Command chat serves the chat example app: chat rooms over hibernatable
// WebSockets, each room one object with its history in SQL. Run it with
// --help for its flags, then open http://127.0.0.1:8787/ in two tabs.
//
//	go run ./examples/chat --data /tmp/chat
package main

import (
	"github.com/den-run/den/examples/chat/chat"
	"github.com/den-run/den/serve"
)

func main() { serve.Main(chat.App()) }
