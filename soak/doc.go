// Package soak proves that money survives crashes: it runs the central
// ledger and the banks as separate processes under a scenario's payments,
// kills them with SIGKILL several times and starts them again, and checks
// at the end that every payment a wallet was told was made is in the books
// exactly once, that nothing else was booked, that every wallet holds what
// its answers say, and that the ledger's audit passes.
//
// Wallets behave as real ones should: when their bank goes away they open
// a new session and send the same instruction again with the same request
// id until the bank answers it for sure.
package soak
