// Package boltfile opens the sandbox's bbolt files so that a damaged file
// is refused with an error that says so, and a file another process holds
// is named as such: never a crash, never a bare timeout.
//
// # Basics
//
// bbolt maps its file into memory and trusts what it finds there. A file
// cut short makes it read past the end of the mapping, which ends the
// process with SIGBUS; a page whose bytes were altered can make it panic.
// Open first checks an existing file against its own meta pages (their
// checksums, the page size and the high-water mark, which the file must
// be long enough to hold), then reads every page once, read-only, with
// faults turned into errors, and only then opens the file as asked.
// Damage comes back as a *Damage, which errors.Is matches with
// ErrDamaged; a file locked by another process as ErrInUse.
//
// Callers that know their file's contents pass a verify function that
// reads them all and checks what only they can check (the ledger walks
// its journal's hash chain); others get a walk of every key and value.
//
// # Caveats
//
// The guard covers opening and whatever runs under View. A file damaged
// while a process has it open is not guarded. A panic or fault in the
// middle of bolt.Open leaves that open's file descriptor and lock behind;
// the caller is expected to report the damage and exit.
package boltfile
