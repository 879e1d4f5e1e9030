package chat_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaks a goroutine. Chromium's
// DevTools connection may leave a reader behind for a moment.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
