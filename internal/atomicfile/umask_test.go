//go:build unix

package atomicfile

import (
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWrite_PermissionsIgnoreUmask: the file has the permissions asked
// for, whatever the umask. The umask is the process's, so this test does
// not run in parallel with others.
func TestWrite_PermissionsIgnoreUmask(t *testing.T) {
	for _, tt := range []struct {
		umask int
		perm  fs.FileMode
	}{
		{0o077, 0o644}, // a certificate stays readable under a strict umask
		{0o077, 0o600},
		{0o000, 0o600}, // a key is not loosened by a lax one
		{0o022, 0o640},
	} {
		old := syscall.Umask(tt.umask)
		dir := t.TempDir()
		errW := Write(filepath.Join(dir, "replaced"), []byte("x"), tt.perm)
		errN := WriteNew(filepath.Join(dir, "created"), []byte("x"), tt.perm)
		syscall.Umask(old)
		if errW != nil || errN != nil {
			t.Fatalf("umask %#o: %v, %v", tt.umask, errW, errN)
		}
		checkFile(t, filepath.Join(dir, "replaced"), []byte("x"), tt.perm)
		checkFile(t, filepath.Join(dir, "created"), []byte("x"), tt.perm)
	}
}
