package den_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/den-run/den"
)

func TestWebSocketLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"tag too long", second(den.CheckWebSocketTags([]string{strings.Repeat("é", 257)})), `is longer than the max tag length (256 characters).`},
		{"11 tags", second(den.CheckWebSocketTags(strings.Split("a b c d e f g h i j k", " "))), den.MsgWebSocketTooManyTags},
		{"attachment", second(den.EncodeAttachment(strings.Repeat("x", 16383))), "A WebSocket 'attachment' cannot be larger than 16384 bytes.'attachment' was 16385 bytes."},
		{"request", second(den.NewWebSocketRequestResponsePair(strings.Repeat("x", 2049), "")), "Request cannot be larger than 2048 bytes. A request of size 2049 was provided."},
		{"response", second(den.NewWebSocketRequestResponsePair("", strings.Repeat("x", 2049))), "Response cannot be larger than 2048 bytes. A response of size 2049 was provided."},
		{"event timeout", den.CheckEventTimeout(7*24*time.Hour + time.Millisecond), den.MsgEventTimeoutTooLong},
		{"close code", den.CheckClose(1001, ""), "The close code must be either 1000, or between 3000 and 4999. 1001 is neither."},
		{"close reason", den.CheckClose(1000, strings.Repeat("x", 124)), den.MsgCloseReasonTooLong},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, tc.err, tc.want)
		}
	}
	// Within the limits: duplicates are ignored, 256 characters pass.
	tags, err := den.CheckWebSocketTags(append(strings.Split("a b c d e f g h i j", " "), "a", strings.Repeat("é", 256))[:11])
	if err != nil || len(tags) != 10 {
		t.Fatalf("10 distinct tags and a duplicate: %v, %v", tags, err)
	}
	if _, err := den.CheckWebSocketTags([]string{strings.Repeat("é", 256)}); err != nil {
		t.Fatal(err)
	}
	for _, code := range []int{1000, 3000, 4999} {
		if err := den.CheckClose(code, strings.Repeat("x", 123)); err != nil {
			t.Errorf("close %d: %v", code, err)
		}
	}
	if err := den.CheckEventTimeout(7 * 24 * time.Hour); err != nil {
		t.Fatal(err)
	}
	if b, err := den.EncodeAttachment(nil); b != nil || err != nil {
		t.Fatalf("nil attachment: %q %v", b, err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestCheckWebSocketRequest(t *testing.T) {
	r := httptest.NewRequest("GET", "/ws", nil)
	if err := den.CheckWebSocketRequest(r); err == nil {
		t.Fatal("a plain GET passed")
	}
	r.Header.Set("Upgrade", "WebSocket")
	r.Header.Set("Connection", "keep-alive, Upgrade")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	r.Header.Set("Sec-WebSocket-Version", "13")
	if err := den.CheckWebSocketRequest(r); err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Sec-WebSocket-Version", "8")
	if err := den.CheckWebSocketRequest(r); err == nil || !strings.Contains(err.Error(), "only 13") {
		t.Fatalf("version 8: %v", err)
	}
}
