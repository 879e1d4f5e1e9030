//go:build !unix

package serve

func openFileLimit() int { return 0 }
