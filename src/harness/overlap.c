/* src/harness/overlap.c — see overlap.h: each measuring run registers a locked file in a
 * per-user runtime directory; scanning the directory tells which other runs were alive at the
 * same time. Nothing here touches nb_last_error or fails its caller: a problem makes the
 * answer "unknown", with the reason in the report. */
#define _GNU_SOURCE
#include "harness/overlap.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S INT64_C(1000000000)
/* A finished run's file is kept at least this long: a run that read the clock for its start just
 * before this one ended, but registered just after a scan, must still find it. */
#define FINISHED_GRACE_NS (60 * NS_PER_S)
/* A crashed run never wrote its end: its file goes an hour after it began. */
#define CRASHED_KEEP_NS (3600 * NS_PER_S)
/* What one scan looks at; beyond this many files (never seen in practice) the rest are not
 * counted, and finished runs' files go by the hour rule alone. */
#define MAX_SCANNED 128
/* Runs seen alive by earlier checks of this run (nb_overlap_check's "seen alive" rule). */
#define MEMO_SIZE 32
#define NAME_MAX_LEN 64

struct nb_overlap {
    int fd; /* the run's file, holding LOCK_EX; -1 when not registered */
    int64_t start;
    char what[NB_OVERLAP_WHAT_MAX];
    char dir[256];           /* runtime paths are short (/run/user/1000/nabla/runs); longer: unknown */
    char name[NAME_MAX_LEN]; /* "<pid>-<start>.run" */
    char why[320];           /* why it is not registered */
    struct {
        char name[NAME_MAX_LEN];
        int64_t seen; /* the last check that found it alive; 0: free slot */
    } memo[MEMO_SIZE];
};

int64_t nb_overlap_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* Copies at most size - 1 bytes of s up to a newline, control characters made '?': the names
 * end up in warning lines and JSON, one line each. */
static void copy_line(char *out, size_t size, const char *s) {
    size_t i = 0;
    for (; s && s[i] && s[i] != '\n' && i + 1 < size; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    out[i] = '\0';
}

/* ---- the directory ------------------------------------------------------------------------- */

nb_status nb_overlap_dir(char *buf, size_t size) {
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (xdg && xdg[0] == '/') /* the XDG spec: a relative path is invalid and ignored */
        n = snprintf(buf, size, "%s/nabla/runs", xdg);
    else
        n = snprintf(buf, size, "/tmp/nabla-%ld/runs", (long)geteuid());
    return n >= 0 && (size_t)n < size ? NB_OK : NB_ERR_ARG;
}

/* mkdir 0700, then the check that makes a shared place such as /tmp safe to use: a directory
 * (not a link someone planted), this user's, that nobody else can write. */
static bool make_private_dir(const char *dir, char *why, size_t size) {
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(why, size, "cannot create %s: %s", dir, strerror(errno));
        return false;
    }
    struct stat st;
    if (lstat(dir, &st) != 0) {
        snprintf(why, size, "cannot use %s: %s", dir, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
        snprintf(why, size, "%s is not a directory that only this user can write", dir);
        return false;
    }
    return true;
}

static bool write_all(int fd, const char *text) {
    size_t len = strlen(text);
    while (len) {
        ssize_t w = write(fd, text, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return false;
        }
        text += w, len -= (size_t)w;
    }
    return true;
}

/* Creates the run's file under a hidden temporary name, locks it, writes it, and only then
 * renames it into view: a scanner never sees a file that is unlocked or half written. */
static bool register_run(nb_overlap *run) {
    if (nb_overlap_dir(run->dir, sizeof run->dir) != NB_OK) {
        snprintf(run->why, sizeof run->why, "the runtime directory's path is too long");
        return false;
    }
    char parent[sizeof run->dir];
    snprintf(parent, sizeof parent, "%s", run->dir);
    *strrchr(parent, '/') = '\0';
    if (!make_private_dir(parent, run->why, sizeof run->why) || !make_private_dir(run->dir, run->why, sizeof run->why))
        return false;
    int dfd = open(run->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        snprintf(run->why, sizeof run->why, "cannot open %s: %s", run->dir, strerror(errno));
        return false;
    }
    char tmp[NAME_MAX_LEN + 8];
    int fd = -1;
    /* two runs of one process can read the same nanosecond: the name is taken with O_EXCL */
    for (int attempt = 0; attempt < 8; attempt++, run->start++) {
        snprintf(run->name, sizeof run->name, "%ld-%lld.run", (long)getpid(), (long long)run->start);
        snprintf(tmp, sizeof tmp, ".%s.tmp", run->name);
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0 || errno != EEXIST) break;
    }
    bool ok = fd >= 0;
    if (!ok) snprintf(run->why, sizeof run->why, "cannot create a file in %s: %s", run->dir, strerror(errno));
    char head[NB_OVERLAP_WHAT_MAX + 64];
    snprintf(head, sizeof head, "nabla-run 1\nwhat %s\n", run->what);
    /* the lock is what tells this run is alive, and a fresh file cannot be locked by anyone else */
    if (ok && (flock(fd, LOCK_EX | LOCK_NB) != 0 || !write_all(fd, head) || renameat(dfd, tmp, dfd, run->name) != 0)) {
        snprintf(run->why, sizeof run->why, "cannot register in %s: %s", run->dir, strerror(errno));
        unlinkat(dfd, tmp, 0);
        close(fd);
        ok = false;
    }
    close(dfd);
    if (ok) run->fd = fd;
    return ok;
}

nb_overlap *nb_overlap_begin(const char *what) {
    nb_overlap *run = calloc(1, sizeof *run);
    if (!run) return NULL;
    run->fd = -1;
    run->start = nb_overlap_clock();
    copy_line(run->what, sizeof run->what, what && *what ? what : "nabla");
    register_run(run); /* on failure run->why says why, and the reports say unknown */
    return run;
}

/* ---- scanning ----------------------------------------------------------------------------------- */

typedef struct run_file {
    char name[NAME_MAX_LEN];
    char what[NB_OVERLAP_WHAT_MAX];
    long pid;
    int64_t start, end; /* end 0: none written (alive, or crashed) */
    bool alive;
} run_file;

/* "<pid>-<start>.run": the name, fixed at registration, carries the pid and the start. */
static bool parse_name(const char *name, long *pid, int64_t *start) {
    char *end;
    errno = 0;
    long p = strtol(name, &end, 10);
    if (errno || end == name || *end != '-' || p <= 0) return false;
    const char *s = end + 1;
    long long t = strtoll(s, &end, 10);
    if (errno || end == s || strcmp(end, ".run") != 0 || t <= 0) return false;
    *pid = p, *start = t;
    return true;
}

/* Reads one run's file: alive when its owner still holds the lock. */
static bool read_run_file(int dfd, const char *name, run_file *f) {
    memset(f, 0, sizeof *f);
    if (strlen(name) >= sizeof f->name || !parse_name(name, &f->pid, &f->start)) return false;
    snprintf(f->name, sizeof f->name, "%s", name);
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return false; /* removed meanwhile: a finished run, out of any window now */
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return false;
    }
    f->alive = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    char text[512];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd); /* drops the shared lock, if it was taken */
    text[n > 0 ? n : 0] = '\0';
    const char *what = strstr(text, "\nwhat ");
    copy_line(f->what, sizeof f->what, what ? what + 6 : "nabla");
    /* a live owner may be appending its end right now; only a dead one's end is final */
    const char *end = f->alive ? NULL : strstr(text, "\nend ");
    if (end) f->end = strtoll(end + 5, NULL, 10);
    if (f->end < f->start) f->end = 0;
    return true;
}

static int64_t memo_get(const nb_overlap *run, const char *name) {
    for (int i = 0; i < MEMO_SIZE; i++)
        if (run->memo[i].seen && !strcmp(run->memo[i].name, name)) return run->memo[i].seen;
    return 0;
}

static void memo_set(nb_overlap *run, const char *name, int64_t now) {
    int slot = 0;
    for (int i = 0; i < MEMO_SIZE; i++) {
        if (run->memo[i].seen && !strcmp(run->memo[i].name, name)) {
            slot = i;
            break;
        }
        if (run->memo[i].seen < run->memo[slot].seen) slot = i; /* a free slot, else the oldest */
    }
    snprintf(run->memo[slot].name, sizeof run->memo[slot].name, "%.63s", name);
    run->memo[slot].seen = now;
}

static void set_unknown(nb_overlap_report *out, const char *why) {
    *out = (nb_overlap_report){.status = NB_OVERLAP_UNKNOWN};
    snprintf(out->why, sizeof out->why, "%s", why);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* A registration cut off between creating its hidden file and renaming it: removed when old. */
static void remove_old_temporary(int dfd, const char *name, int64_t now) {
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_SH | LOCK_NB) == 0 &&
        (int64_t)st.st_mtime * NS_PER_S < now - CRASHED_KEEP_NS)
        unlinkat(dfd, name, 0);
    close(fd);
}

static void scan(nb_overlap *run, int64_t since, nb_overlap_report *out) {
    if (!run) return set_unknown(out, "out of memory registering the run");
    if (run->fd < 0) return set_unknown(out, run->why);
    DIR *d = opendir(run->dir);
    if (!d) {
        char why[sizeof out->why];
        snprintf(why, sizeof why, "cannot read %s: %s", run->dir, strerror(errno));
        return set_unknown(out, why);
    }
    *out = (nb_overlap_report){.status = NB_OVERLAP_NONE};
    run_file files[MAX_SCANNED]; /* ~20 KiB of stack; scans run on the command's own thread */
    int n = 0;
    bool truncated = false;
    const int64_t now = nb_overlap_clock();
    const struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (name[0] == '.') {
            if (ends_with(name, ".tmp")) remove_old_temporary(dirfd(d), name, now);
            continue;
        }
        if (!ends_with(name, ".run") || !strcmp(name, run->name)) continue;
        if (n == MAX_SCANNED) {
            truncated = true;
            continue;
        }
        if (read_run_file(dirfd(d), name, &files[n])) n++;
    }
    /* A finished run may matter only to a run that was alive before it ended. */
    int64_t live_since = run->start;
    for (int i = 0; i < n; i++)
        if (files[i].alive && files[i].start < live_since) live_since = files[i].start;
    for (int i = 0; i < n; i++) {
        const run_file *f = &files[i];
        int64_t seen = memo_get(run, f->name);
        if (f->alive) memo_set(run, f->name, now);
        bool overlapped = f->alive || f->start >= since || (f->end && f->end >= since) || (seen && seen >= since);
        if (overlapped) {
            if (out->count < NB_OVERLAP_MAX_LISTED) {
                nb_overlap_other *o = &out->runs[out->count];
                snprintf(o->what, sizeof o->what, "%s", f->what);
                o->pid = f->pid;
            }
            out->count++;
        }
        /* with files left unread, a live run among them may have begun before a finished run
         * ended: then only the hour rule, so that the directory still shrinks */
        bool finished_long_ago = f->end && (truncated ? f->end < now - CRASHED_KEEP_NS
                                                      : f->end < now - FINISHED_GRACE_NS && f->end < live_since);
        bool crashed_long_ago = !f->end && f->start < now - CRASHED_KEEP_NS;
        if (!f->alive && (finished_long_ago || crashed_long_ago)) unlinkat(dirfd(d), f->name, 0);
    }
    closedir(d);
    if (out->count) out->status = NB_OVERLAP_FOUND;
}

void nb_overlap_check(nb_overlap *run, int64_t since, nb_overlap_report *out) { scan(run, since, out); }

void nb_overlap_end(nb_overlap *run, nb_overlap_report *out) {
    nb_overlap_report local;
    if (!out) out = &local;
    scan(run, run ? run->start : 0, out);
    if (!run) return;
    if (run->fd >= 0) {
        char line[64];
        snprintf(line, sizeof line, "end %lld\n", (long long)nb_overlap_clock());
        /* a run whose end is lost reads as crashed: still seen by the runs it overlapped, by
         * their lock checks and start times; nothing to report to the caller */
        (void)write_all(run->fd, line);
        close(run->fd); /* drops the lock: from now on this run reads as finished */
    }
    free(run);
}

/* ---- telling it ----------------------------------------------------------------------------------- */

/* The listed runs, each as fmt (what, pid), joined by "; ", then "; and N more". */
static void join_runs(const nb_overlap_report *r, const char *fmt, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    int listed = r->count < NB_OVERLAP_MAX_LISTED ? r->count : NB_OVERLAP_MAX_LISTED;
    for (int i = 0; i <= listed && used + 1 < size; i++) {
        int w;
        if (i < listed)
            w = snprintf(buf + used, size - used, "%s", i ? "; " : "");
        else if (r->count > listed)
            w = snprintf(buf + used, size - used, "; and %d more", r->count - listed);
        else
            break;
        if (w < 0) break;
        used += (size_t)w < size - used ? (size_t)w : size - used - 1;
        if (i < listed && used + 1 < size) {
            w = snprintf(buf + used, size - used, fmt, r->runs[i].what, r->runs[i].pid);
            if (w < 0) break;
            used += (size_t)w < size - used ? (size_t)w : size - used - 1;
        }
    }
}

void nb_overlap_describe(const nb_overlap_report *r, char *buf, size_t size) {
    if (!buf || !size) return;
    if (r->status == NB_OVERLAP_UNKNOWN)
        snprintf(buf, size, "unknown");
    else if (r->status == NB_OVERLAP_NONE || r->count == 0)
        snprintf(buf, size, "none");
    else
        join_runs(r, "%s (pid %ld)", buf, size);
}

bool nb_overlap_warn(FILE *f, const char *command, const nb_overlap_report *r) {
    if (!f || r->status != NB_OVERLAP_FOUND || r->count == 0) return false;
    char runs[NB_OVERLAP_MAX_LISTED * (NB_OVERLAP_WHAT_MAX + 32)];
    join_runs(r, "%s, pid %ld", runs, sizeof runs);
    if (r->count == 1)
        fprintf(f, "%s: another nabla measurement ran at the same time (%s): these timings measured each other\n",
                command, runs);
    else
        fprintf(f, "%s: %d other nabla measurements ran at the same time (%s): these timings measured each other\n",
                command, r->count, runs);
    fflush(f);
    return true;
}

struct cJSON *nb_overlap_json(const nb_overlap_report *r) {
    if (r->status == NB_OVERLAP_UNKNOWN) return cJSON_CreateString("unknown");
    cJSON *list = cJSON_CreateArray();
    int listed = r->count < NB_OVERLAP_MAX_LISTED ? r->count : NB_OVERLAP_MAX_LISTED;
    for (int i = 0; list && i < listed; i++) {
        char text[NB_OVERLAP_WHAT_MAX + 32];
        snprintf(text, sizeof text, "%s (pid %ld)", r->runs[i].what, r->runs[i].pid);
        cJSON *item = cJSON_CreateString(text);
        if (!item || !cJSON_AddItemToArray(list, item)) {
            cJSON_Delete(item);
            cJSON_Delete(list);
            return NULL;
        }
    }
    return list;
}
