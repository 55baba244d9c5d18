package intermediary

// LoseStorage closes the bank's file under it, as a disk that goes away
// would: the bank's next write fails.
func LoseStorage(b *Bank) { b.st.db.Close() }

// SharesSignatureChecker says whether two banks check signatures on the
// same checker.
func SharesSignatureChecker(a, b *Bank) bool { return a.sigs == b.sigs }

// SignaturesCheckedAlone counts the checks bank b's checker made outside
// batches.
func SignaturesCheckedAlone(b *Bank) int64 { return b.sigs.checkedAlone.Load() }
