package replica

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/hashicorp/raft"
)

// Raft snapshots and log compaction. A snapshot at Raft index i is what
// the replica's files hold once entries 1 to i are applied, and the
// ledger's journal is that state: the snapshot is the journal's records 1
// to N (N its last record when the snapshot is taken), streamed from the
// journal, not a second copy of the state kept in step. Raft then deletes
// the log up to i, keeping TrailingLogs entries: a follower that was
// briefly away catches up from the log, one that was away longer (or
// whose files were lost) is sent the snapshot and then the log after it.
//
// The stream is a list of named sections, so what else a replica comes
// to hold (the offline settlement index, next) is added as a section:
//
//	"cbdc-replica-snap" and a version byte (1)
//	each section: its name (a length byte and the name), then its body
//	    in frames (a uint32 length, big-endian, and that many bytes), an
//	    empty frame ending it
//	an empty name, ending the sections
//	SHA-256 of every byte before it
//
// Sections come in the order of the sections table, each once. Restore
// reads and checks the whole stream, every section staged and the
// trailing hash compared, before it applies any: a snapshot cut short,
// damaged, holding a section this replica does not know or lacking one it
// does is refused, with the replica unchanged.

// Snapshot and compaction defaults. An entry is one group commit: one
// operation at the demo's pace, up to thousands under a benchmark (tens
// to a hundred entries a second). A snapshot copies the whole journal,
// so it is taken only every DefaultSnapshotThreshold entries (an hour or
// more at the demo's pace, a couple of minutes under a benchmark), Raft
// looking every DefaultSnapshotInterval or so whether one is due; and
// DefaultTrailingLogs entries stay behind it, so a follower away for a
// restart, an upgrade or a network cut (minutes under a benchmark's
// load, hours at the demo's) catches up from the log, sent only what it
// missed, and only one away longer, or rebuilt empty, is sent the
// journal. The log then holds at most the two added together.
const (
	DefaultSnapshotThreshold = 8192
	DefaultSnapshotInterval  = 2 * time.Minute
	DefaultTrailingLogs      = 10240

	// snapshotsRetained: the journal is the state, so a second, older
	// snapshot would only take room; Raft keeps the last one until the
	// next is whole.
	snapshotsRetained = 1
)

// snapshotSettings are the Raft settings of a replica's snapshots.
func (c *Config) snapshotSettings() (threshold uint64, interval time.Duration, trailing uint64) {
	threshold, interval, trailing = c.SnapshotThreshold, c.SnapshotInterval, c.TrailingLogs
	if threshold == 0 {
		threshold = DefaultSnapshotThreshold
	}
	if interval <= 0 {
		interval = DefaultSnapshotInterval
	}
	if trailing == 0 {
		trailing = DefaultTrailingLogs
	}
	return threshold, interval, trailing
}

// section is one part of a snapshot. To add one, add an entry to
// sections: its name, take and stage (and to fsm whatever they need).
// Snapshots then hold it after the sections before it; Restore refuses a
// snapshot holding a section it does not know, as an older replica does
// one of a newer. It refuses one lacking a section too, and a replica
// restores its own latest snapshot at start-up, so a replica upgraded to
// a new section would refuse its snapshot from before and not start:
// when adding a section, either have such a replica's raft directory
// removed (not the snapshot alone: its log no longer starts at 1), so it
// is sent the group's snapshot and log, or let Restore stage the new
// section from an empty body when it is absent.
type section struct {
	name string

	// take runs in fsm.Snapshot, on Raft's FSM goroutine with no entry
	// being applied: it fixes what the section will hold (cheaply: the
	// FSM waits) and returns the function that writes it, which Persist
	// calls later on another goroutine while entries are applied again,
	// and what lets go of it (nil when nothing needs to), which Release
	// calls whether or not it was written.
	take func(f fsm) (write func(w io.Writer) error, release func(), err error)

	// stage reads the section's whole body from r in Restore and checks
	// it, changing nothing; what it returns is applied only once every
	// section is staged and the stream's trailing hash is right.
	stage func(f fsm, r io.Reader) (staged, error)
}

// staged is a section read and checked, ready to apply or be dropped.
type staged interface {
	Apply() error
	Discard()
}

// sections are a snapshot's parts, in the order they are written.
var sections = []section{
	{name: "journal", take: takeJournal, stage: stageJournal},
	{name: "settlement", take: takeSettlement, stage: stageSettlement},
	{name: "relay", take: takeRelay, stage: stageRelay},
	{name: "keys", take: takeKeys, stage: stageKeys},
}

// journal is the ledger whose journal the fsm applies entries to.
func (f fsm) journal() *ledger.Ledger { return f.r.led }

func takeJournal(f fsm) (func(io.Writer) error, func(), error) {
	led := f.journal()
	seq, head, err := led.SnapshotPoint()
	if err != nil {
		return nil, nil, err
	}
	return func(w io.Writer) error { return led.WriteSnapshot(w, seq, head) }, nil, nil
}

func stageJournal(f fsm, r io.Reader) (staged, error) {
	s, err := f.journal().StageSnapshot(r)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// The settlement index's copy, as its bbolt file.
func takeSettlement(f fsm) (func(io.Writer) error, func(), error) {
	s, err := f.r.index.Snapshot()
	if err != nil {
		return nil, nil, err
	}
	return func(w io.Writer) error { _, err := s.WriteTo(w); return err }, s.Release, nil
}

func stageSettlement(f fsm, r io.Reader) (staged, error) {
	s, err := f.r.index.Stage(r)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// The relay's mailboxes, copied between two entries.
func takeRelay(f fsm) (func(io.Writer) error, func(), error) {
	s := f.r.led.SnapshotRelay()
	return func(w io.Writer) error { _, err := s.WriteTo(w); return err }, nil, nil
}

func stageRelay(f fsm, r io.Reader) (staged, error) {
	s, err := f.r.led.StageRelay(r)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// The registry of the banks' keys, copied between two entries.
func takeKeys(f fsm) (func(io.Writer) error, func(), error) {
	s := f.r.led.SnapshotKeys()
	return func(w io.Writer) error { _, err := s.WriteTo(w); return err }, nil, nil
}

func stageKeys(f fsm, r io.Reader) (staged, error) {
	s, err := f.r.led.StageKeys(r)
	if err != nil {
		return nil, err
	}
	return s, nil
}

const (
	streamMagic   = "cbdc-replica-snap"
	streamVersion = 1
	frameSize     = 64 << 10 // frames written
	maxFrameSize  = 16 << 20 // frames read: a larger length is damage
)

// ErrBadSnapshot means a snapshot stream is cut short, damaged, or holds
// sections this replica does not know. Nothing was changed.
var ErrBadSnapshot = errors.New("replica: snapshot refused")

func (f fsm) snapshot() (raft.FSMSnapshot, error) {
	s := &fsmSnapshot{}
	for _, sec := range sections {
		write, release, err := sec.take(f)
		if err != nil {
			s.Release()
			return nil, fmt.Errorf("replica: snapshot section %q: %w", sec.name, err)
		}
		s.parts = append(s.parts, part{sec.name, write, release})
	}
	return s, nil
}

// part is one section's name, what writes its body and what lets go of
// what it holds.
type part struct {
	name    string
	write   func(w io.Writer) error
	release func()
}

// fsmSnapshot is a snapshot taken, to be written to Raft's store.
type fsmSnapshot struct{ parts []part }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeStream(sink, s.parts); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {
	for _, p := range s.parts {
		if p.release != nil {
			p.release()
		}
	}
}

// writeStream writes a snapshot holding parts to w.
func writeStream(w io.Writer, parts []part) error {
	sum := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, sum), frameSize+4)
	bw.WriteString(streamMagic)
	bw.WriteByte(streamVersion)
	for _, p := range parts {
		if p.name == "" || len(p.name) > 255 {
			return fmt.Errorf("replica: snapshot section name %q is not 1 to 255 bytes", p.name)
		}
		bw.WriteByte(byte(len(p.name)))
		bw.WriteString(p.name)
		fw := &frameWriter{w: bw, buf: make([]byte, 0, frameSize)}
		if err := p.write(fw); err != nil {
			return fmt.Errorf("replica: write snapshot section %q: %w", p.name, err)
		}
		if err := fw.close(); err != nil {
			return fmt.Errorf("replica: write snapshot section %q: %w", p.name, err)
		}
	}
	bw.WriteByte(0)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("replica: write snapshot: %w", err)
	}
	if _, err := w.Write(sum.Sum(nil)); err != nil {
		return fmt.Errorf("replica: write snapshot: %w", err)
	}
	return nil
}

// frameWriter cuts a section's body into frames.
type frameWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (f *frameWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), frameSize-len(f.buf))
		f.buf = append(f.buf, p[:k]...)
		p = p[k:]
		if len(f.buf) == frameSize {
			if err := f.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (f *frameWriter) flush() error {
	if len(f.buf) == 0 {
		return nil
	}
	f.w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f.buf))))
	_, err := f.w.Write(f.buf)
	f.buf = f.buf[:0]
	return err
}

func (f *frameWriter) close() error {
	if err := f.flush(); err != nil {
		return err
	}
	_, err := f.w.Write([]byte{0, 0, 0, 0})
	return err
}

func (f fsm) restore(rc io.ReadCloser) error {
	defer rc.Close()
	return restoreStream(f, rc)
}

// restoreStream reads a whole snapshot from r, staging each section, and
// applies them once the stream has proved whole; otherwise it changes
// nothing and says why.
func restoreStream(f fsm, r io.Reader) (err error) {
	in := &hashReader{r: bufio.NewReaderSize(r, 64<<10), sum: sha256.New()}
	var done []staged
	defer func() {
		if err != nil {
			for _, s := range done {
				s.Discard()
			}
		}
	}()
	head := make([]byte, len(streamMagic)+1)
	if _, err := io.ReadFull(in, head); err != nil {
		return fmt.Errorf("%w: cut short in its header", ErrBadSnapshot)
	}
	if string(head[:len(streamMagic)]) != streamMagic {
		return fmt.Errorf("%w: not a ledger replica's snapshot", ErrBadSnapshot)
	}
	if v := head[len(streamMagic)]; v != streamVersion {
		return fmt.Errorf("%w: snapshot version %d, this replica reads version %d", ErrBadSnapshot, v, streamVersion)
	}
	for i := 0; ; i++ {
		name, err := readName(in)
		if err != nil {
			return err
		}
		if name == "" {
			if i < len(sections) {
				return fmt.Errorf("%w: it has no %q section", ErrBadSnapshot, sections[i].name)
			}
			break
		}
		if !known(name) {
			return fmt.Errorf("%w: it holds a section %q, which this replica does not know (it knows %s)", ErrBadSnapshot, name, knownNames())
		}
		if i >= len(sections) || sections[i].name != name {
			return fmt.Errorf("%w: it holds section %q out of place, where this replica expects %s", ErrBadSnapshot, name, expected(i))
		}
		body := &frameReader{r: in}
		s, err := sections[i].stage(f, body)
		if err != nil {
			return fmt.Errorf("%w: section %q: %w", ErrBadSnapshot, name, err)
		}
		done = append(done, s)
		if n, err := body.Read(make([]byte, 1)); n > 0 || err != io.EOF {
			if err == nil || err == io.EOF {
				err = errors.New("bytes follow what the section holds")
			}
			return fmt.Errorf("%w: section %q: %v", ErrBadSnapshot, name, err)
		}
	}
	want := in.sum.Sum(nil)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(in.r, got); err != nil {
		return fmt.Errorf("%w: cut short before its trailing hash", ErrBadSnapshot)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: its trailing hash does not match its bytes (damaged)", ErrBadSnapshot)
	}
	if _, err := in.r.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: bytes follow its trailing hash", ErrBadSnapshot)
	}
	for i, s := range done { // the rest are discarded on a failure
		if err := s.Apply(); err != nil {
			return fmt.Errorf("replica: restore snapshot section %q: %w", sections[i].name, err)
		}
	}
	return nil
}

func known(name string) bool {
	for _, s := range sections {
		if s.name == name {
			return true
		}
	}
	return false
}

func knownNames() string {
	var names []string
	for _, s := range sections {
		names = append(names, strconv.Quote(s.name))
	}
	return strings.Join(names, ", ")
}

// expected names what restoreStream looks for as section i.
func expected(i int) string {
	if i < len(sections) {
		return strconv.Quote(sections[i].name)
	}
	return "no section after " + knownNames()
}

func readName(in *hashReader) (string, error) {
	var n [1]byte
	if _, err := io.ReadFull(in, n[:]); err != nil {
		return "", fmt.Errorf("%w: cut short where a section starts", ErrBadSnapshot)
	}
	name := make([]byte, n[0])
	if _, err := io.ReadFull(in, name); err != nil {
		return "", fmt.Errorf("%w: cut short in a section's name", ErrBadSnapshot)
	}
	return string(name), nil
}

// hashReader hashes the bytes read through it.
type hashReader struct {
	r   *bufio.Reader
	sum hash.Hash
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.sum.Write(p[:n])
	return n, err
}

// frameReader reads a section's body out of its frames, returning io.EOF
// at its empty frame and io.ErrUnexpectedEOF if the stream ends first.
type frameReader struct {
	r    io.Reader
	left int // bytes left in the current frame
	done bool
}

func (f *frameReader) Read(p []byte) (int, error) {
	for f.left == 0 {
		if f.done {
			return 0, io.EOF
		}
		var n [4]byte
		if _, err := io.ReadFull(f.r, n[:]); err != nil {
			return 0, io.ErrUnexpectedEOF
		}
		size := binary.BigEndian.Uint32(n[:])
		if size > maxFrameSize {
			return 0, fmt.Errorf("a frame claims %d bytes", size)
		}
		f.left, f.done = int(size), size == 0
	}
	n, err := f.r.Read(p[:min(len(p), f.left)])
	f.left -= n
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// SnapshotStats says where the replica's snapshots and log stand.
type SnapshotStats struct {
	LastIndex     uint64 // Raft index of its latest snapshot, taken or sent; 0 for none
	LastTerm      uint64 // its term
	FirstLogIndex uint64 // the oldest entry its Raft log holds; those before are compacted away
	ledger.SnapshotStats
}

// SnapshotStats reads where the replica's snapshots and log stand.
func (r *Replica) SnapshotStats() SnapshotStats {
	st := r.raft.Stats()
	num := func(k string) uint64 {
		n, _ := strconv.ParseUint(st[k], 10, 64)
		return n
	}
	first, _ := r.logs.FirstIndex()
	return SnapshotStats{LastIndex: num("last_snapshot_index"), LastTerm: num("last_snapshot_term"),
		FirstLogIndex: first, SnapshotStats: r.led.SnapshotStats()}
}
