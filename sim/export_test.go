package sim

// SignAheadUpTo sets the longest plan a run signs ahead, and returns a
// func that restores the default.
func SignAheadUpTo(n int) (restore func()) {
	old := maxSignedAhead
	maxSignedAhead = n
	return func() { maxSignedAhead = old }
}
