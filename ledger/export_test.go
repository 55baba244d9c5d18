package ledger

// FailStorageForTest closes the ledger's journal file under it, so that
// its next write fails as a broken disk's would.
func FailStorageForTest(l *Ledger) error { return l.db.Close() }
