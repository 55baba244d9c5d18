package atomicfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// steps are every step write asks its hook about, in order.
var steps = []string{"create", "chmod", "write", "sync", "place", "sync-dir"}

// errInjected is the failure the tests' hooks inject.
var errInjected = errors.New("injected failure")

// checkOnly fails unless dir holds exactly the named entries: no
// temporary file is left behind.
func checkOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		t.Errorf("directory holds %q, want %q", got, names)
	}
}

func checkFile(t *testing.T, path string, want []byte, perm fs.FileMode) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", path, got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != perm {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), perm)
	}
}

func TestWrite_Replaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "settings.json")
	if err := Write(path, []byte("first"), 0o640); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, []byte("first"), 0o640)
	if err := Write(path, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, []byte("second"), 0o600)
	if err := Write(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, nil, 0o600)
	checkOnly(t, dir, "settings.json")
}

func TestWrite_RelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := Write("token", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkFile(t, "token", []byte("x"), 0o600)
	checkOnly(t, ".", "token")
}

// TestWrite_StepsInOrder pins the steps the failure tests go through, so
// a step added to write without a test shows here.
func TestWrite_StepsInOrder(t *testing.T) {
	var seen []string
	path := filepath.Join(t.TempDir(), "key")
	err := write(path, []byte("k"), 0o600, os.Rename, func(step string) error {
		seen = append(seen, step)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, steps) {
		t.Errorf("steps %q, want %q", seen, steps)
	}
}

// TestWrite_FailureKeepsOldFile fails each step before the move in turn:
// the error comes back, the old file is intact and no temporary file is
// left. At every step up to the move the file reads as the old content,
// and after it as the new.
func TestWrite_FailureKeepsOldFile(t *testing.T) {
	old, next := []byte("old key, whole"), []byte("new key, also whole")
	for _, failAt := range steps[:len(steps)-1] {
		t.Run(failAt, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "key.pem")
			if err := Write(path, old, 0o600); err != nil {
				t.Fatal(err)
			}
			err := write(path, next, 0o644, os.Rename, func(step string) error {
				if cur, _ := os.ReadFile(path); !bytes.Equal(cur, old) {
					t.Errorf("before %s the file holds %q, want the old content", step, cur)
				}
				if step == failAt {
					return errInjected
				}
				return nil
			})
			if !errors.Is(err, errInjected) {
				t.Fatalf("err = %v, want the injected failure", err)
			}
			checkFile(t, path, old, 0o600)
			checkOnly(t, dir, "key.pem")
		})
	}
}

func TestWrite_SyncDirFailureLeavesNewFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "purse")
	if err := Write(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := write(path, []byte("new"), 0o600, os.Rename, func(step string) error {
		if step == "sync-dir" {
			if cur, _ := os.ReadFile(path); string(cur) != "new" {
				t.Errorf("after the move the file holds %q, want the new content", cur)
			}
			return errInjected
		}
		return nil
	})
	if !errors.Is(err, errInjected) {
		t.Fatalf("err = %v, want the injected failure", err)
	}
	checkFile(t, path, []byte("new"), 0o600)
	checkOnly(t, dir, "purse")
}

func TestWriteNew_FailureCreatesNothing(t *testing.T) {
	for _, failAt := range steps[:len(steps)-1] {
		t.Run(failAt, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "secret")
			err := write(path, []byte("s"), 0o600, link, func(step string) error {
				if step == failAt {
					return errInjected
				}
				return nil
			})
			if !errors.Is(err, errInjected) {
				t.Fatalf("err = %v, want the injected failure", err)
			}
			checkOnly(t, dir)
		})
	}
}

func TestWrite_ReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to a read-only directory; the injected failures cover this")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ca-key.pem")
	if err := Write(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	if err := Write(path, []byte("new"), 0o600); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("err = %v, want a permission error", err)
	}
	if err := WriteNew(filepath.Join(dir, "other"), []byte("new"), 0o600); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("WriteNew: err = %v, want a permission error", err)
	}
	checkFile(t, path, []byte("old"), 0o600)
	checkOnly(t, dir, "ca-key.pem")
}

func TestWrite_MissingDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gone", "key")
	if err := Write(path, []byte("k"), 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist", err)
	}
	checkOnly(t, dir)
}

// whole reports whether b is one whole write of the concurrency tests:
// size bytes, all the same.
func whole(b []byte, size int) bool {
	return len(b) == size && bytes.Count(b, b[:1]) == size
}

// TestWrite_ConcurrentWritersNeverMix has writers replace one file while
// a reader reads it: every read finds one writer's content, whole.
func TestWrite_ConcurrentWritersNeverMix(t *testing.T) {
	const writers, writes, size = 6, 20, 64 << 10
	dir := t.TempDir()
	path := filepath.Join(dir, "purse")
	if err := Write(path, bytes.Repeat([]byte{0}, size), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for reads := 0; ; reads++ {
			select {
			case <-done:
				if reads == 0 {
					t.Error("the reader read nothing")
				}
				return
			default:
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("read: %v", err)
				return
			}
			if !whole(b, size) {
				t.Errorf("a reader found a mix: %d bytes starting %q", len(b), b[:min(len(b), 8)])
				return
			}
		}
	})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				fill := byte(1 + w*writes + i)
				if err := Write(path, bytes.Repeat([]byte{fill}, size), 0o600); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	if b, _ := os.ReadFile(path); !whole(b, size) {
		t.Errorf("the file ends a mix: %d bytes", len(b))
	}
	checkOnly(t, dir, "purse")
}

func TestWriteNew_RefusesExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alice.key")
	if err := WriteNew(path, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteNew(path, []byte("second"), 0o644)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("err = %v, want fs.ErrExist", err)
	}
	checkFile(t, path, []byte("first"), 0o600)
	checkOnly(t, dir, "alice.key")
}

// TestWriteNew_ConcurrentCreatorsOneWins: of writers racing to create one
// file, one succeeds, the others learn it exists, and the file holds the
// winner's content.
func TestWriteNew_ConcurrentCreatorsOneWins(t *testing.T) {
	const writers = 8
	dir := t.TempDir()
	path := filepath.Join(dir, "holder.key")
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() { errs[w] = WriteNew(path, fmt.Appendf(nil, "writer %d", w), 0o600) })
	}
	wg.Wait()
	winner := -1
	for w, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("writers %d and %d both created the file", winner, w)
		case err == nil:
			winner = w
		case !errors.Is(err, fs.ErrExist):
			t.Errorf("writer %d: %v, want fs.ErrExist", w, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer created the file")
	}
	checkFile(t, path, fmt.Appendf(nil, "writer %d", winner), 0o600)
	checkOnly(t, dir, "holder.key")
}

// killSize is the size of each write in the kill test: large enough that
// a kill often lands in the middle of one.
const killSize = 1 << 20

// TestWrite_KilledWriterLeavesWholeFile kills a process of this test
// binary while it rewrites a file over and over: the file is always one
// whole write. (Temporary files may be left, as the doc says.)
func TestWrite_KilledWriterLeavesWholeFile(t *testing.T) {
	if path := os.Getenv("ATOMICFILE_KILL_PATH"); path != "" {
		rewriteForever(path)
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "state")
	if err := Write(path, bytes.Repeat([]byte{0}, killSize), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, wait := range []time.Duration{0, 3 * time.Millisecond, 7 * time.Millisecond, 15 * time.Millisecond, 40 * time.Millisecond} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWrite_KilledWriterLeavesWholeFile$")
		cmd.Env = append(os.Environ(), "ATOMICFILE_KILL_PATH="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
			t.Fatalf("the writer did not start: %v", err)
		}
		time.Sleep(wait)
		cmd.Process.Kill()
		cmd.Wait()
		if b, err := os.ReadFile(path); err != nil || !whole(b, killSize) {
			t.Fatalf("after a kill %v in: %d bytes, err %v; want one whole write", wait, len(b), err)
		}
	}
}

// rewriteForever is the killed process of the kill test.
func rewriteForever(path string) {
	fmt.Println("writing")
	for i := 1; ; i++ {
		if err := Write(path, bytes.Repeat([]byte{byte(i)}, killSize), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
