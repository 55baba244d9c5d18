// Package atomicfile writes files that must never be seen half-written:
// keys, certificates and their private keys, secrets, purse files. Whoever
// reads the file, and the disk after a crash, finds its old content or its
// new content, whole.
//
// # Basics
//
// Write replaces a file; WriteNew creates one and refuses to replace one
// that exists. Both write the data to a temporary file in the same
// directory, under a name no other writer shares (".NAME.tmp-" and random
// digits), set its permissions to exactly those asked (the umask does not
// apply), fsync it, move it into place, and fsync the directory so that the
// move itself is on disk. On an error before the move the temporary file
// is removed and the file at the path is as it was; an error syncing the
// directory after it leaves the new content in place, perhaps not yet on
// disk.
//
// Errors are those of package os and name the file they concern.
//
// # Caveats
//
// A process killed mid-write, or a machine that loses power, can leave a
// temporary file behind, named after the file it was meant to become; the
// file itself is intact. Writers that replace one path at once each
// succeed, and the last one to move its file into place wins. WriteNew
// places its file with a hard link, which some file systems (FAT, some
// network shares) do not offer.
package atomicfile
