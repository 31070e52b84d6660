// io_uring glue: one submission/completion ring pair set up with the raw system calls (no
// liburing), and two operations on it — a batch of writev(2)s, or of non-blocking reads, to one
// fd, submitted in a single io_uring_enter that also waits for their completions. Files that
// take IOCB_NOWAIT (tun does) complete them inline, during the enter, in order, so the batch
// costs one system call instead of one per frame. Batching, the pool and statistics live in
// Swift.
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "CSluiceLinux.h"

#if __has_include(<linux/io_uring.h>) && defined(__NR_io_uring_setup)
#include <linux/io_uring.h>

struct csl_uring {
    int fd;
    unsigned entries;
    // submission ring
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
    struct io_uring_sqe *sqes;
    // completion ring
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_cqe *cqes;
    void *sq_map, *cq_map;
    size_t sq_len, cq_len, sqes_len;
};

static int uring_setup(unsigned entries, struct io_uring_params *p) {
    return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int uring_enter(int fd, unsigned submit, unsigned wait, unsigned flags) {
    return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags, NULL, 0);
}

struct csl_uring *csl_uring_open(unsigned entries, int *error) {
    struct io_uring_params p;
    int fd = -1;
    // Any thread may submit (the datapath's devices are driven by its worker, and by the
    // control thread while a configuration is applied), so no SINGLE_ISSUER; the operations
    // here complete inline and need no task work, so COOP_TASKRUN (5.19+) costs nothing and
    // keeps any that comes from interrupting the thread. Older kernels get the plain ring.
#ifdef IORING_SETUP_COOP_TASKRUN
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_COOP_TASKRUN;
    fd = uring_setup(entries, &p);
#endif
    if (fd < 0) {
        memset(&p, 0, sizeof p);
        fd = uring_setup(entries, &p);
    }
    if (fd < 0) { *error = errno; return NULL; }
    struct csl_uring *u = calloc(1, sizeof *u);
    if (!u) { close(fd); *error = ENOMEM; return NULL; }
    u->fd = fd;
    u->entries = p.sq_entries;
    u->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    u->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    int single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single && u->cq_len > u->sq_len) u->sq_len = u->cq_len;
    u->sq_map = mmap(NULL, u->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (u->sq_map == MAP_FAILED) goto fail;
    if (single) {
        u->cq_map = u->sq_map;
    } else {
        u->cq_map = mmap(NULL, u->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
        if (u->cq_map == MAP_FAILED) { u->cq_map = NULL; goto fail; }
    }
    u->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
    u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (u->sqes == MAP_FAILED) { u->sqes = NULL; goto fail; }
    char *sq = u->sq_map, *cq = u->cq_map;
    u->sq_head = (unsigned *)(sq + p.sq_off.head);
    u->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    u->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    u->sq_array = (unsigned *)(sq + p.sq_off.array);
    u->cq_head = (unsigned *)(cq + p.cq_off.head);
    u->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    u->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    u->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    return u;
fail:
    *error = errno;
    csl_uring_close(u);
    return NULL;
}

void csl_uring_close(struct csl_uring *u) {
    if (!u) return;
    if (u->sqes) munmap(u->sqes, u->sqes_len);
    if (u->cq_map && u->cq_map != u->sq_map && u->cq_map != MAP_FAILED) munmap(u->cq_map, u->cq_len);
    if (u->sq_map && u->sq_map != MAP_FAILED) munmap(u->sq_map, u->sq_len);
    close(u->fd);
    free(u);
}

unsigned csl_uring_entries(const struct csl_uring *u) { return u->entries; }

/// Submits the n entries just written at the tail and waits until every one submitted has
/// completed (their buffers belong to the caller, who frees or reuses them next). Entries the
/// kernel refused to take fail with its errno. A short submission (an entry that failed to
/// start) returns from the enter without waiting, so the wait count never exceeds what was
/// submitted.
static int submit_and_reap(struct csl_uring *u, unsigned tail, int n, int32_t *res) {
    __atomic_store_n(u->sq_tail, tail + n, __ATOMIC_RELEASE);
    int submitted = 0, reaped = 0, failures = 0;
    while ((reaped < submitted || submitted < n) && failures < 1000) {
        int r = uring_enter(u->fd, (unsigned)(n - submitted), (unsigned)(n - reaped), IORING_ENTER_GETEVENTS);
        if (r >= 0) {
            submitted += r;
            failures = 0;
        } else if (++failures, errno != EINTR && errno != EAGAIN && errno != EBUSY) {
            int e = errno;
            for (int i = submitted; i < n; i++) res[i] = -e;
            __atomic_store_n(u->sq_tail, tail + submitted, __ATOMIC_RELEASE);
            n = submitted;
        }
        unsigned head = *u->cq_head;
        unsigned ctail = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
        unsigned cmask = *u->cq_mask;
        while (head != ctail) {
            struct io_uring_cqe *c = &u->cqes[head & cmask];
            if (c->user_data < (uint64_t)n) res[c->user_data] = c->res;
            head++;
            reaped++;
        }
        __atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
    }
    if (submitted < n) {
        // Given up on (the kernel kept answering EINTR/EAGAIN): entries it never took leave the
        // ring, so that the next batch does not submit them with buffers freed by then.
        for (int i = submitted; i < n; i++) res[i] = -EAGAIN;
        __atomic_store_n(u->sq_tail, tail + submitted, __ATOMIC_RELEASE);
    }
    return n;
}

static struct io_uring_sqe *sqe_at(struct csl_uring *u, unsigned tail, int i) {
    unsigned idx = (tail + (unsigned)i) & *u->sq_mask;
    struct io_uring_sqe *q = &u->sqes[idx];
    memset(q, 0, sizeof *q);
    q->off = (uint64_t)-1;            // the file's position: none for a character device
    q->user_data = (uint64_t)i;
    u->sq_array[idx] = idx;
    return q;
}

int csl_uring_writev_batch(struct csl_uring *u, int fd, const struct iovec *iov, int iov_per, int n, int32_t *res) {
    if (n <= 0) return 0;
    if ((unsigned)n > u->entries) n = (int)u->entries;
    unsigned tail = *u->sq_tail;
    for (int i = 0; i < n; i++) {
        struct io_uring_sqe *q = sqe_at(u, tail, i);
        q->opcode = IORING_OP_WRITEV;
        q->fd = fd;
        q->addr = (uint64_t)(uintptr_t)(iov + (size_t)i * iov_per);
        q->len = (unsigned)iov_per;
        res[i] = -EINPROGRESS;
    }
    return submit_and_reap(u, tail, n, res);
}

int csl_uring_read_batch(struct csl_uring *u, int fd, void *const *bufs, unsigned len, int n, int32_t *res) {
    if (n <= 0) return 0;
    if ((unsigned)n > u->entries) n = (int)u->entries;
    unsigned tail = *u->sq_tail;
    for (int i = 0; i < n; i++) {
        struct io_uring_sqe *q = sqe_at(u, tail, i);
        q->opcode = IORING_OP_READ;
        q->fd = fd;
        q->addr = (uint64_t)(uintptr_t)bufs[i];
        q->len = len;
        q->rw_flags = RWF_NOWAIT;     // nothing queued: -EAGAIN now, not a wait for the next frame
        res[i] = -EINPROGRESS;
    }
    return submit_and_reap(u, tail, n, res);
}

#else

struct csl_uring *csl_uring_open(unsigned entries, int *error) { (void)entries; *error = ENOSYS; return NULL; }
void csl_uring_close(struct csl_uring *u) { (void)u; }
unsigned csl_uring_entries(const struct csl_uring *u) { (void)u; return 0; }
int csl_uring_writev_batch(struct csl_uring *u, int fd, const struct iovec *iov, int iov_per, int n, int32_t *res) {
    (void)u; (void)fd; (void)iov; (void)iov_per; (void)res; (void)n; return 0;
}
int csl_uring_read_batch(struct csl_uring *u, int fd, void *const *bufs, unsigned len, int n, int32_t *res) {
    (void)u; (void)fd; (void)bufs; (void)len; (void)res; (void)n; return 0;
}

#endif
