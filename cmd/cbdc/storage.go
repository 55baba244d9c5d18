package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
)

// explainStorage adds to an error from opening a command's files what the
// operator does next. Damage: the command changed nothing, the damaged
// file is restored from a replica or a backup, and for the ledger's files
// the audit lists every damaged place. A file another process holds:
// which process that likely is (holder). Other errors pass unchanged.
func explainStorage(err error, cmd, holder string) error {
	switch {
	case errors.Is(err, boltfile.ErrDamaged):
		return fmt.Errorf("%w\n%s", err, damageAdvice(cmd, damagedPath(err)))
	case errors.Is(err, boltfile.ErrInUse):
		return fmt.Errorf("%w (%s)", err, holder)
	}
	return err
}

// damageAdvice is what to do about a damaged file found by cmd.
func damageAdvice(cmd, path string) string {
	did := fmt.Sprintf("cbdc %s did not start and changed nothing. ", cmd)
	if cmd == "audit" {
		did = ""
	}
	dir := filepath.Dir(path)
	switch filepath.Base(path) {
	case ledger.FileName, settlement.FileName, ledger.CheckpointFileName:
		advice := fmt.Sprintf("%sRestore the ledger's directory %s from a replica or from a backup taken while the ledger was stopped", did, dir)
		if cmd != "audit" {
			advice += fmt.Sprintf("; 'cbdc audit %s' lists every damaged place", dir)
		}
		return advice + "."
	case ".":
		return did + "Restore the damaged file from a replica or from a backup."
	}
	return fmt.Sprintf("%sRestore %s from a replica or from a backup taken while its process was stopped.", did, path)
}

// damagedPath is the file a damage error names, or "".
func damagedPath(err error) string {
	var jd *ledger.DamageError
	var fd *boltfile.Damage
	switch {
	case errors.As(err, &jd):
		return jd.Path
	case errors.As(err, &fd):
		return fd.Path
	}
	return ""
}

// What most likely holds a file that is in use.
const (
	ledgerHolder  = "another `cbdc ledger` or `cbdc sandbox` on the same -data directory?"
	bankHolder    = "another `cbdc bank` on the same -data directory?"
	sandboxHolder = "another `cbdc sandbox` on the same -data directory?"
	auditHolder   = "is the ledger running? `cbdc audit` reads a stopped ledger's files, or a copy of them"
)
