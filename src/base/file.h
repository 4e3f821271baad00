/* src/base/file.h — the one way nabla writes a file: into a temporary file beside the target,
 * flushed to disk, then renamed over it, so a reader (or a run cut off by a signal, a full disk
 * or a crash) sees the old file or the new one, never half of one. */
#ifndef NB_BASE_FILE_H
#define NB_BASE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/error.h"

/* Writes the body through `write(f, ctx)`, which returns false on a failure it has already
 * reported with nb_error (or true; stream errors are caught here either way). The temporary
 * file is in the same directory (rename(2) is atomic only within one file
 * system), named `<path>.tmp-<pid>-<n>` and created exclusively; it is removed on every failure. NB_ERR_IO names the path and the reason: a full
 * disk (ENOSPC), a file-size limit (EFBIG), a read-only location. */
typedef bool nb_file_writer(FILE *f, void *ctx);
nb_status nb_file_write_atomic(const char *path, nb_file_writer *write, void *ctx);

/* The same for a string. */
nb_status nb_file_write_text_atomic(const char *path, const char *text);

/* mkdir -p: creates `dir` and every missing directory above it (mode 0777, less the umask).
 * An existing directory is fine; a path component that exists but is not a directory, or one
 * that cannot be created, is NB_ERR_IO naming it. */
nb_status nb_file_make_dirs(const char *dir);

/* The same for the directory the file `path` is in (nothing for a file in . or /). */
nb_status nb_file_make_parent_dirs(const char *path);

/* Checks, before any work whose output goes to `dir`, that the directory takes a new file of
 * `bytes` bytes: creates a probe file there, reserves that much space in it (posix_fallocate;
 * a file system that cannot reserve is trusted), and removes it. A full disk, a read-only mount
 * or a file-size limit is then refused in a moment, not after minutes of measuring. */
nb_status nb_file_check_writable_dir(const char *dir, size_t bytes);

#endif
