/* src/base/file.c — see file.h: atomic file writes (temporary file, fsync, rename) and the
 * up-front check that an output directory takes a file. */
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

nb_status nb_file_write_atomic(const char *path, nb_file_writer *write, void *ctx) {
    if (!path || !*path || !write) return nb_error(NB_ERR_ARG, "file write: no path or writer");
    /* The temporary file's name is unique to this process and call, and it is created with
     * O_EXCL: two writers of one path (threads, or processes) never share a temporary file,
     * and the last rename wins whole. open, not mkstemp: the file gets the umask's mode. */
    static atomic_uint counter;
    char tmp[4200];
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld-%u", path, (long)getpid(), atomic_fetch_add(&counter, 1)) >=
            (int)sizeof tmp)
            return nb_error(NB_ERR_ARG, "the output path is too long: %.60s...", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return nb_error(NB_ERR_IO, "cannot write %s: %s", path, strerror(err));
    }
    /* A stream error (a full disk: ENOSPC or EFBIG) wins over the writer's own verdict; when
     * only the writer says no, its own message is kept. */
    nb_clear_error();
    errno = 0;
    bool wrote = write(f, ctx);
    int err = 0;
    if (ferror(f) || fflush(f) != 0) err = errno ? errno : EIO;
    /* fsync before rename: after a crash the new name must not point at blocks never written */
    if (wrote && !err && fsync(fileno(f)) != 0) err = errno;
    if (fclose(f) != 0 && !err) err = errno ? errno : EIO;
    bool renamed = false, rename_failed = false;
    if (wrote && !err) {
        renamed = rename(tmp, path) == 0;
        rename_failed = !renamed;
        if (rename_failed) err = errno;
    }
    if (!renamed) {
        unlink(tmp);
        if (rename_failed) return nb_error(NB_ERR_IO, "cannot rename %s into place: %s", path, strerror(err));
        if (err) return nb_error(NB_ERR_IO, "cannot write %s: %s", path, strerror(err));
        return nb_last_status() != NB_OK ? nb_last_status() : nb_error(NB_ERR_IO, "cannot write %s", path);
    }
    return NB_OK;
}

static bool write_text(FILE *f, void *ctx) { return fputs(ctx, f) >= 0; }

nb_status nb_file_write_text_atomic(const char *path, const char *text) {
    return nb_file_write_atomic(path, write_text, (void *)text);
}

nb_status nb_file_make_dirs(const char *dir) {
    char buf[4096];
    if (!dir || !*dir) return nb_error(NB_ERR_ARG, "the directory name is empty");
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return nb_error(NB_ERR_ARG, "the path is too long: %.60s...", dir);
    /* each prefix ending at a '/' (the leading one skipped: "/" exists), then the whole path */
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return nb_error(NB_ERR_IO, "cannot create %s: %s", buf, strerror(errno));
        *p = c;
        if (c == '\0') break;
    }
    struct stat st;
    if (stat(dir, &st) != 0) return nb_error(NB_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return nb_error(NB_ERR_IO, "cannot create %s: %s", dir, strerror(ENOTDIR));
    return NB_OK;
}

nb_status nb_file_make_parent_dirs(const char *path) {
    char dir[4096];
    if (!path || snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return nb_error(NB_ERR_ARG, "the path is too long or missing: %.60s...", path ? path : "");
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return NB_OK; /* the current directory, or / */
    *slash = '\0';
    return nb_file_make_dirs(dir);
}

nb_status nb_file_check_writable_dir(const char *dir, size_t bytes) {
    char probe[4200];
    if (snprintf(probe, sizeof probe, "%s/.nabla-probe.%d", dir, (int)getpid()) >= (int)sizeof probe)
        return nb_error(NB_ERR_ARG, "the output path is too long: %.60s...", dir);
    /* access(2) says yes to root everywhere; only creating a file tells (read-only mounts, /proc) */
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return nb_error(NB_ERR_IO, "cannot write in %s: %s", dir, strerror(errno));
    int err = bytes ? posix_fallocate(fd, 0, (off_t)bytes) : 0;
    close(fd);
    unlink(probe);
    /* EOPNOTSUPP / EINVAL: the file system cannot reserve space; the write itself will tell */
    if (err == ENOSPC || err == EFBIG || err == EDQUOT)
        return nb_error(NB_ERR_IO, "cannot write in %s: %s (%zu KiB are needed for the results)", dir, strerror(err),
                        bytes >> 10);
    return NB_OK;
}
