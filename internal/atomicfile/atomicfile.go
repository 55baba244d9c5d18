package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces the file at path with data, with permissions perm. A
// reader sees the old content or data, never a mix or a prefix.
func Write(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, os.Rename, nil)
}

// WriteNew creates the file at path holding data, with permissions perm,
// and fails with an error matching fs.ErrExist if a file is there already,
// even one created a moment before by another process. Unlike
// os.OpenFile with O_EXCL, nobody ever sees the file empty or partly
// written.
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, link, nil)
}

// link places the temporary file by linking it, which never replaces an
// existing file, then drops the temporary name. The file is in place once
// the link is made, so failing to drop the name is no error: it is left
// behind as a crash would leave it.
func link(tmp, path string) error {
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	os.Remove(tmp)
	return nil
}

// hook is the tests' seam: when set, write asks it before each step and
// fails that step with the error it returns.
type hook func(step string) error

func (h hook) before(step string) error {
	if h == nil {
		return nil
	}
	return h(step)
}

// write puts data in a temporary file beside path, then moves it to path
// with place (os.Rename or link) and syncs the directory.
func write(path string, data []byte, perm fs.FileMode, place func(tmp, path string) error, h hook) error {
	dir := filepath.Dir(path)
	if err := h.before("create"); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	err = fill(f, data, perm, h)
	if err == nil {
		err = h.before("place")
	}
	if err == nil {
		err = place(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := h.before("sync-dir"); err != nil {
		return err
	}
	return syncDir(dir)
}

// fill sets f's permissions, writes data, syncs and closes f. The
// permissions come first, so the data never sits in a file more open than
// perm; f.Chmod is not subject to the umask.
func fill(f *os.File, data []byte, perm fs.FileMode, h hook) error {
	err := h.before("chmod")
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = h.before("write")
	}
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = h.before("sync")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
