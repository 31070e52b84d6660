// AF_XDP glue: a UMEM the port owns, its fill/completion rings and one XSK socket's rx/tx
// rings, set up by Debian's libxdp (xsk_umem__create, xsk_socket__create, which also loads
// and later removes libxdp's default redirect program). libxdp is opened with dlopen, so the
// package builds and runs where it is missing; the ring operations are xsk.h's inline ones,
// compiled only when the header is there. Everything else (batching, the pool, statistics)
// lives in Swift.
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <net/if.h>
#include <dlfcn.h>
#include "CSluiceLinux.h"

#if __has_include(<xdp/xsk.h>)
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#define CSL_XSK_TX_LIMIT 2048

struct csl_xsk {
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xsk_ring_prod fq, tx;
    struct xsk_ring_cons cq, rx;
    void *area;
    size_t area_len;
    unsigned frame_size, nframes;
    uint64_t *free_frames;      // frames neither in the fill ring nor in flight on tx
    unsigned nfree;
    unsigned tx_outstanding;
    int zerocopy, driver_mode;
};

static void *libxdp;
static int (*p_umem_create)(struct xsk_umem **, void *, __u64, struct xsk_ring_prod *, struct xsk_ring_cons *, const struct xsk_umem_config *);
static int (*p_socket_create)(struct xsk_socket **, const char *, __u32, struct xsk_umem *, struct xsk_ring_cons *, struct xsk_ring_prod *, const struct xsk_socket_config *);
static void (*p_socket_delete)(struct xsk_socket *);
static int (*p_umem_delete)(struct xsk_umem *);
static int (*p_socket_fd)(const struct xsk_socket *);

static int load_libxdp(char *err, int errlen) {
    if (libxdp) return 0;
    void *h = dlopen("libxdp.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) { snprintf(err, (size_t)errlen, "libxdp is not installed (apt-get install -y libxdp1): %s", dlerror()); return -1; }
    p_umem_create = dlsym(h, "xsk_umem__create");
    p_socket_create = dlsym(h, "xsk_socket__create");
    p_socket_delete = dlsym(h, "xsk_socket__delete");
    p_umem_delete = dlsym(h, "xsk_umem__delete");
    p_socket_fd = dlsym(h, "xsk_socket__fd");
    if (!p_umem_create || !p_socket_create || !p_socket_delete || !p_umem_delete || !p_socket_fd) {
        snprintf(err, (size_t)errlen, "libxdp.so.1 lacks the xsk API");
        dlclose(h);
        return -1;
    }
    libxdp = h;
    // libxdp and libbpf narrate their loading (bpffs, ELF sections) on stderr; Sluice reports
    // what matters itself.
    void *(*xdp_print)(void *) = (void *(*)(void *))dlsym(h, "libxdp_set_print");
    void *(*bpf_print)(void *) = (void *(*)(void *))dlsym(h, "libbpf_set_print");
    if (xdp_print) xdp_print(NULL);
    if (bpf_print) bpf_print(NULL);
    return 0;
}

int csl_xsk_available(void) { return 1; }

struct csl_xsk *csl_xsk_open(const char *ifname, unsigned queue, int mode, unsigned nframes, unsigned nfill, char *err, int errlen) {
    if (nfill == 0 || nfill > nframes / 2) nfill = nframes / 2;
    if (load_libxdp(err, errlen) != 0) return NULL;
    struct csl_xsk *x = calloc(1, sizeof *x);
    if (!x) { snprintf(err, (size_t)errlen, "out of memory"); return NULL; }
    x->frame_size = XSK_UMEM__DEFAULT_FRAME_SIZE;   // 4096: one page per frame
    x->nframes = nframes;
    x->area_len = (size_t)nframes * x->frame_size;
    x->area = mmap(NULL, x->area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (x->area == MAP_FAILED) { snprintf(err, (size_t)errlen, "mmap UMEM: %s", strerror(errno)); free(x); return NULL; }
    x->free_frames = calloc(nframes, sizeof(uint64_t));
    struct xsk_umem_config uc = {
        .fill_size = nframes / 2, .comp_size = nframes / 2, .frame_size = x->frame_size,
        .frame_headroom = 0, .flags = 0,
    };
    int r = p_umem_create(&x->umem, x->area, x->area_len, &x->fq, &x->cq, &uc);
    if (r) { snprintf(err, (size_t)errlen, "xsk_umem__create: %s", strerror(-r)); goto fail; }
    // mode: 0 auto (native driver, zero-copy if the driver can), 1 copy, 2 zero-copy.
    static const int tries[3][3] = {
        { XDP_FLAGS_DRV_MODE, XDP_ZEROCOPY, 1 }, { XDP_FLAGS_DRV_MODE, XDP_COPY, 1 }, { XDP_FLAGS_SKB_MODE, XDP_COPY, 0 },
    };
    int first = mode == 2 ? 0 : (mode == 1 ? 1 : 0);
    int last = mode == 2 ? 0 : 2;
    for (int t = first; t <= last; t++) {
        struct xsk_socket_config sc = {
            .rx_size = nframes / 2, .tx_size = nframes / 2, .libxdp_flags = 0,
            .xdp_flags = (__u32)tries[t][0], .bind_flags = (__u16)(tries[t][1] | XDP_USE_NEED_WAKEUP),
        };
        r = p_socket_create(&x->xsk, ifname, queue, x->umem, &x->rx, &x->tx, &sc);
        if (r == 0) { x->zerocopy = tries[t][1] == XDP_ZEROCOPY; x->driver_mode = tries[t][2]; break; }
    }
    if (r) { snprintf(err, (size_t)errlen, "xsk_socket__create on %s queue %u: %s", ifname, queue, strerror(-r)); goto fail; }
    // `nfill` frames circulate for receive (fill ring → rx ring → copied → fill ring again), so
    // at most that many can wait in the rx ring; the rest are kept for transmit.
    __u32 idx = 0;
    if (xsk_ring_prod__reserve(&x->fq, nfill, &idx) != nfill) { snprintf(err, (size_t)errlen, "fill ring reserve failed"); goto fail; }
    for (unsigned i = 0; i < nfill; i++) *xsk_ring_prod__fill_addr(&x->fq, idx++) = (uint64_t)i * x->frame_size;
    xsk_ring_prod__submit(&x->fq, nfill);
    for (unsigned i = nfill; i < nframes; i++) x->free_frames[x->nfree++] = (uint64_t)i * x->frame_size;
    return x;
fail:
    csl_xsk_close(x);
    return NULL;
}

void csl_xsk_close(struct csl_xsk *x) {
    if (!x) return;
    if (x->xsk) p_socket_delete(x->xsk);
    if (x->umem) p_umem_delete(x->umem);
    if (x->area && x->area != MAP_FAILED) munmap(x->area, x->area_len);
    free(x->free_frames);
    free(x);
}

int csl_xsk_fd(const struct csl_xsk *x) { return p_socket_fd(x->xsk); }
int csl_xsk_zerocopy(const struct csl_xsk *x) { return x->zerocopy; }
int csl_xsk_driver_mode(const struct csl_xsk *x) { return x->driver_mode; }
unsigned csl_xsk_frame_size(const struct csl_xsk *x) { return x->frame_size; }

int csl_xsk_recv(struct csl_xsk *x, void *const *dst, unsigned dstlen, uint32_t *lens, int max) {
    __u32 idx = 0;
    if (max > 256) max = 256;
    unsigned n = xsk_ring_cons__peek(&x->rx, (unsigned)max, &idx);
    if (n == 0) {
        if (xsk_ring_prod__needs_wakeup(&x->fq)) recvfrom(p_socket_fd(x->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
        return 0;
    }
    uint64_t back[256];
    unsigned nback = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + i);
        uint32_t len = d->len;
        // Aligned mode: the address is the frame's plus the headroom the kernel left.
        uint64_t off = xsk_umem__add_offset_to_addr(d->addr);
        uint64_t frame = xsk_umem__extract_addr(d->addr) & ~((uint64_t)x->frame_size - 1);
        // A descriptor that points outside the UMEM or past its frame is refused (reported as a
        // length the caller cannot take) and its frame is not recycled, never followed.
        if (frame >= x->area_len || off < frame || off + len > frame + x->frame_size) {
            lens[i] = UINT32_MAX;
            continue;
        }
        lens[i] = len;
        if (len <= dstlen) memcpy(dst[i], (char *)x->area + off, len);
        back[nback++] = frame;
    }
    __u32 fidx = 0;
    unsigned got = xsk_ring_prod__reserve(&x->fq, nback, &fidx);
    for (unsigned i = 0; i < nback; i++) {
        if (i < got) *xsk_ring_prod__fill_addr(&x->fq, fidx + i) = back[i];
        else x->free_frames[x->nfree++] = back[i];
    }
    xsk_ring_cons__release(&x->rx, n);
    if (got) xsk_ring_prod__submit(&x->fq, got);
    return (int)n;
}

unsigned csl_xsk_reclaim(struct csl_xsk *x) {
    __u32 idx = 0;
    unsigned n = xsk_ring_cons__peek(&x->cq, x->nframes, &idx);
    for (unsigned i = 0; i < n; i++) x->free_frames[x->nfree++] = *xsk_ring_cons__comp_addr(&x->cq, idx + i);
    if (n) { xsk_ring_cons__release(&x->cq, n); x->tx_outstanding -= n; }
    return n;
}

int csl_xsk_send(struct csl_xsk *x, void *const *src, const uint32_t *lens, int n, int *kicked) {
    // The caller reclaimed completions and decided how much may go (byte queue limits); the
    // hard cap here is the frames in flight the UMEM can spare.
    unsigned want = (unsigned)n;
    if (want > x->nfree) want = x->nfree;
    unsigned room = x->tx_outstanding < CSL_XSK_TX_LIMIT ? CSL_XSK_TX_LIMIT - x->tx_outstanding : 0;
    if (want > room) want = room;
    __u32 idx = 0;
    unsigned k = want ? xsk_ring_prod__reserve(&x->tx, want, &idx) : 0;
    unsigned sent = 0;
    for (unsigned i = 0; i < k; i++) {
        if (lens[i] > x->frame_size) break;       // no multi-buffer: the caller segments first
        uint64_t frame = x->free_frames[--x->nfree];
        memcpy(xsk_umem__get_data(x->area, frame), src[i], lens[i]);
        struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx + i);
        d->addr = frame;
        d->len = lens[i];
        d->options = 0;
        sent++;
    }
    if (sent < k) x->tx.cached_prod -= (k - sent);   // give back what was reserved and not used
    if (sent) {
        xsk_ring_prod__submit(&x->tx, sent);
        x->tx_outstanding += sent;
    }
    // Kick only when the kernel asks (need_wakeup), but until it has taken everything
    // submitted: in copy mode one sendto moves a bounded batch (TX_BATCH_SIZE), and whatever is
    // left would otherwise wait for the next send — behind it, every later frame.
    *kicked = 0;
    for (int k = 0; k < 256 && xsk_ring_prod__needs_wakeup(&x->tx); k++) {
        uint32_t cons = __atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE);
        if (cons == *x->tx.producer) break;
        int r = (int)sendto(p_socket_fd(x->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0);
        (*kicked)++;
        if (r < 0 && errno != EAGAIN && errno != EBUSY && errno != ENOBUFS) { *kicked = -errno; break; }
    }
    return (int)sent;
}

#else

int csl_xsk_available(void) { return 0; }
struct csl_xsk *csl_xsk_open(const char *ifname, unsigned queue, int mode, unsigned nframes, unsigned nfill, char *err, int errlen) {
    (void)ifname; (void)queue; (void)mode; (void)nframes; (void)nfill;
    snprintf(err, (size_t)errlen, "Sluice was built without libxdp-dev (xdp/xsk.h): no AF_XDP");
    return NULL;
}
void csl_xsk_close(struct csl_xsk *x) { (void)x; }
int csl_xsk_fd(const struct csl_xsk *x) { (void)x; return -1; }
int csl_xsk_zerocopy(const struct csl_xsk *x) { (void)x; return 0; }
int csl_xsk_driver_mode(const struct csl_xsk *x) { (void)x; return 0; }
unsigned csl_xsk_frame_size(const struct csl_xsk *x) { (void)x; return 0; }
int csl_xsk_recv(struct csl_xsk *x, void *const *dst, unsigned dstlen, uint32_t *lens, int max) {
    (void)x; (void)dst; (void)dstlen; (void)lens; (void)max; return -1;
}
int csl_xsk_send(struct csl_xsk *x, void *const *src, const uint32_t *lens, int n, int *kicked) {
    (void)x; (void)src; (void)lens; (void)n; *kicked = 0; return -1;
}
unsigned csl_xsk_reclaim(struct csl_xsk *x) { (void)x; return 0; }
#endif
