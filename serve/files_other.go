//go:build !unix

package serve

func openFileLimit() int { return 0 }

func raiseOpenFileLimit() (before, after int) { return 0, 0 }
