package intermediary

// LoseStorage closes the bank's file under it, as a disk that goes away
// would: the bank's next write fails.
func LoseStorage(b *Bank) { b.st.db.Close() }
