package commit_test

import "runtime"

func runtimeGosched() { runtime.Gosched() }
