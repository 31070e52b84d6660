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
#include <linux/if_xdp.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

int csl_xdp_statistics(int fd, uint64_t out[6]) {
    struct xdp_statistics st;
    socklen_t len = sizeof st;
    memset(&st, 0, sizeof st);
    if (fd < 0 || getsockopt(fd, SOL_XDP, XDP_STATISTICS, &st, &len) != 0) return -1;
    out[0] = st.rx_dropped; out[1] = st.rx_invalid_descs; out[2] = st.tx_invalid_descs;
    out[3] = st.rx_ring_full; out[4] = st.rx_fill_ring_empty_descs; out[5] = st.tx_ring_empty_descs;
    return 0;
}

#if __has_include(<xdp/xsk.h>)
#include <stddef.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

// Multi-buffer AF_XDP (Linux 6.6), newer than Debian's uapi headers.
#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif

#define CSL_XSK_TX_LIMIT 2048
// CSL_XSK_MAX_DESCS (CSluiceLinux.h): a frame of more descriptors is refused by the kernel
// (xsk_build_skb: MAX_SKB_FRAGS).

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
    // Multi-buffer: Sluice's own frags-aware redirect program, attached by a BPF link (the
    // kernel detaches it when the link's last fd closes, also if the process dies), its
    // XSKMAP, and the socket bound with XDP_USE_SG. -1: libxdp's program, one frame per
    // descriptor.
    int sg, prog_fd, map_fd, link_fd;
    char sg_reason[160];
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

// The attachments tried, in order, for a mode (0 auto: all; 1 copy: the last two; 2 zero-copy:
// the first): XDP attach flags, bind flags, and whether that is the driver's native XDP.
static const int tries[3][3] = {
    { XDP_FLAGS_DRV_MODE, XDP_ZEROCOPY, 1 }, { XDP_FLAGS_DRV_MODE, XDP_COPY, 1 }, { XDP_FLAGS_SKB_MODE, XDP_COPY, 0 },
};

static int sys_bpf(int cmd, union bpf_attr *attr) { return (int)syscall(__NR_bpf, cmd, attr, sizeof *attr); }

// The redirect program, six instructions: bpf_redirect_map(&xsks, ctx->rx_queue_index,
// XDP_PASS) — a frame goes to the XSK bound to its queue, or up the stack when there is none.
// Loaded with BPF_F_XDP_HAS_FRAGS, so frames larger than a page reach it (veth then allows an
// MTU past one page, and the socket receives them as chains of descriptors).
static int load_sg_prog(int map_fd, char *err, int errlen) {
    struct bpf_insn insns[6];
    memset(insns, 0, sizeof insns);
    insns[0].code = BPF_LDX | BPF_MEM | BPF_W; insns[0].dst_reg = BPF_REG_2; insns[0].src_reg = BPF_REG_1;
    insns[0].off = (short)offsetof(struct xdp_md, rx_queue_index);
    insns[1].code = BPF_LD | BPF_DW | BPF_IMM; insns[1].dst_reg = BPF_REG_1; insns[1].src_reg = BPF_PSEUDO_MAP_FD; insns[1].imm = map_fd;
    insns[3].code = BPF_ALU64 | BPF_MOV | BPF_K; insns[3].dst_reg = BPF_REG_3; insns[3].imm = XDP_PASS;
    insns[4].code = BPF_JMP | BPF_CALL; insns[4].imm = BPF_FUNC_redirect_map;
    insns[5].code = BPF_JMP | BPF_EXIT;
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.prog_type = BPF_PROG_TYPE_XDP;
    a.insns = (uint64_t)(uintptr_t)insns;
    a.insn_cnt = 6;
    a.license = (uint64_t)(uintptr_t)"GPL";
    a.prog_flags = BPF_F_XDP_HAS_FRAGS;
    a.expected_attach_type = BPF_XDP;
    memcpy(a.prog_name, "sluice_xsk", 11);
    int fd = sys_bpf(BPF_PROG_LOAD, &a);
    if (fd < 0) snprintf(err, (size_t)errlen, "loading the multi-buffer XDP program: %s", strerror(errno));
    return fd;
}

static void close_sg(struct csl_xsk *x) {
    if (x->link_fd >= 0) close(x->link_fd);
    if (x->prog_fd >= 0) close(x->prog_fd);
    if (x->map_fd >= 0) close(x->map_fd);
    x->link_fd = x->prog_fd = x->map_fd = -1;
    x->sg = 0;
}

// Multi-buffer setup: the XSKMAP, the program, a BPF link in driver (else generic) mode, the
// socket bound with XDP_USE_SG and put in the map. 0, or -1 with everything undone and `err`
// saying why (the caller then uses libxdp's program without multi-buffer).
static int open_sg(struct csl_xsk *x, const char *ifname, unsigned queue, int mode, unsigned nframes, char *err, int errlen) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_type = BPF_MAP_TYPE_XSKMAP; a.key_size = 4; a.value_size = 4; a.max_entries = queue + 1;
    memcpy(a.map_name, "sluice_xsks", 12);
    x->map_fd = sys_bpf(BPF_MAP_CREATE, &a);
    if (x->map_fd < 0) { snprintf(err, (size_t)errlen, "XSKMAP: %s", strerror(errno)); close_sg(x); return -1; }
    x->prog_fd = load_sg_prog(x->map_fd, err, errlen);
    if (x->prog_fd < 0) { close_sg(x); return -1; }
    unsigned ifindex = if_nametoindex(ifname);
    int first = mode == 2 ? 0 : (mode == 1 ? 1 : 0);
    int last = mode == 2 ? 0 : 2;
    int r = -1, attached_mode = -1;
    for (int t = first; t <= last; t++) {
        if (attached_mode != tries[t][0]) {
            if (x->link_fd >= 0) { close(x->link_fd); x->link_fd = -1; }
            memset(&a, 0, sizeof a);
            a.link_create.prog_fd = (uint32_t)x->prog_fd;
            a.link_create.target_ifindex = ifindex;
            a.link_create.attach_type = BPF_XDP;
            a.link_create.flags = (uint32_t)tries[t][0];
            x->link_fd = sys_bpf(BPF_LINK_CREATE, &a);
            if (x->link_fd < 0) {
                r = -errno;
                snprintf(err, (size_t)errlen, "attaching the multi-buffer XDP program to %s: %s", ifname, strerror(errno));
                attached_mode = -1;
                continue;
            }
            attached_mode = tries[t][0];
        }
        struct xsk_socket_config sc = {
            .rx_size = nframes / 2, .tx_size = nframes / 2, .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
            .xdp_flags = (__u32)tries[t][0], .bind_flags = (__u16)(tries[t][1] | XDP_USE_NEED_WAKEUP | XDP_USE_SG),
        };
        r = p_socket_create(&x->xsk, ifname, queue, x->umem, &x->rx, &x->tx, &sc);
        if (r == 0) { x->zerocopy = tries[t][1] == XDP_ZEROCOPY; x->driver_mode = tries[t][2]; break; }
        snprintf(err, (size_t)errlen, "binding with XDP_USE_SG: %s", strerror(-r));
        x->xsk = NULL;
    }
    if (r != 0) { close_sg(x); return -1; }
    int fd = p_socket_fd(x->xsk);
    memset(&a, 0, sizeof a);
    a.map_fd = (uint32_t)x->map_fd; a.key = (uint64_t)(uintptr_t)&queue; a.value = (uint64_t)(uintptr_t)&fd;
    if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) != 0) {
        snprintf(err, (size_t)errlen, "XSKMAP update: %s", strerror(errno));
        p_socket_delete(x->xsk); x->xsk = NULL;
        close_sg(x);
        return -1;
    }
    x->sg = 1;
    return 0;
}

struct csl_xsk *csl_xsk_open(const char *ifname, unsigned queue, int mode, int multibuffer, unsigned nframes, unsigned nfill, char *err, int errlen) {
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
    x->prog_fd = x->map_fd = x->link_fd = -1;
    struct xsk_umem_config uc = {
        .fill_size = nframes / 2, .comp_size = nframes / 2, .frame_size = x->frame_size,
        .frame_headroom = 0, .flags = 0,
    };
    int r = p_umem_create(&x->umem, x->area, x->area_len, &x->fq, &x->cq, &uc);
    if (r) { snprintf(err, (size_t)errlen, "xsk_umem__create: %s", strerror(-r)); goto fail; }
    // mode: 0 auto (native driver, zero-copy if the driver can), 1 copy, 2 zero-copy.
    // Multi-buffer first, with Sluice's own program; where that cannot be had (a kernel before
    // 6.6, a driver without frags), libxdp's program and one frame per descriptor.
    snprintf(x->sg_reason, sizeof x->sg_reason, "multibuffer off asked");
    if (multibuffer && open_sg(x, ifname, queue, mode, nframes, x->sg_reason, (int)sizeof x->sg_reason) == 0) goto bound;
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
bound:;
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
    close_sg(x);
    if (x->umem) p_umem_delete(x->umem);
    if (x->area && x->area != MAP_FAILED) munmap(x->area, x->area_len);
    free(x->free_frames);
    free(x);
}

int csl_xsk_fd(const struct csl_xsk *x) { return p_socket_fd(x->xsk); }
int csl_xsk_zerocopy(const struct csl_xsk *x) { return x->zerocopy; }
int csl_xsk_driver_mode(const struct csl_xsk *x) { return x->driver_mode; }
unsigned csl_xsk_frame_size(const struct csl_xsk *x) { return x->frame_size; }
int csl_xsk_multibuffer(const struct csl_xsk *x) { return x->sg; }
const char *csl_xsk_multibuffer_reason(const struct csl_xsk *x) { return x->sg_reason; }

unsigned csl_xsk_rx_ready(struct csl_xsk *x) {
    __u32 idx = 0;
    unsigned n = xsk_ring_cons__peek(&x->rx, 256, &idx);
    if (n) xsk_ring_cons__cancel(&x->rx, n);           // looked at, not taken
    return n;
}

int csl_xsk_recv(struct csl_xsk *x, void *const *dst, unsigned dstlen, uint32_t *lens, int max) {
    __u32 idx = 0;
    if (max > 256) max = 256;
    unsigned n = xsk_ring_cons__peek(&x->rx, 256, &idx);
    if (n == 0) {
        if (xsk_ring_prod__needs_wakeup(&x->fq)) recvfrom(p_socket_fd(x->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
        return 0;
    }
    uint64_t back[256];
    unsigned nback = 0, i = 0;
    int frames = 0;
    while (i < n && frames < max) {
        // One frame: its descriptors up to the first without XDP_PKT_CONTD (a single one
        // without multi-buffer). The kernel publishes a frame's descriptors together; a chain
        // cut by this peek waits for the next, unless it fills the whole peek (then it is
        // refused, so that the ring cannot stall).
        unsigned j = i;
        while (j < n && (xsk_ring_cons__rx_desc(&x->rx, idx + j)->options & XDP_PKT_CONTD) && j - i < CSL_XSK_MAX_DESCS) j++;
        if (j == n) { if (i > 0 || n < 256) break; j = n - 1; }
        uint32_t total = 0;
        int bad = !x->sg && j != i;
        for (unsigned k = i; k <= j; k++) {
            const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + k);
            uint32_t len = d->len;
            // Aligned mode: the address is the frame's plus the headroom the kernel left.
            uint64_t off = xsk_umem__add_offset_to_addr(d->addr);
            uint64_t frame = xsk_umem__extract_addr(d->addr) & ~((uint64_t)x->frame_size - 1);
            // A descriptor that points outside the UMEM or past its frame is refused (reported
            // as a length the caller cannot take) and its frame is not recycled, never followed.
            if (frame >= x->area_len || off < frame || off + len > frame + x->frame_size) { bad = 1; continue; }
            if (!bad && (uint64_t)total + len <= dstlen) memcpy((char *)dst[frames] + total, (char *)x->area + off, len);
            total += len;
            back[nback++] = frame;
        }
        lens[frames++] = bad ? UINT32_MAX : total;
        i = j + 1;
    }
    __u32 fidx = 0;
    unsigned got = xsk_ring_prod__reserve(&x->fq, nback, &fidx);
    for (unsigned k = 0; k < nback; k++) {
        if (k < got) *xsk_ring_prod__fill_addr(&x->fq, fidx + k) = back[k];
        else x->free_frames[x->nfree++] = back[k];
    }
    // What was looked at and not taken is given back to the next peek: a peek advances the
    // cached consumer over all it saw, a release only over what it names, so without this the
    // entries left behind would be skipped — and their frames never put back on the fill
    // ring, until too few were left circulating for the kernel to receive into.
    if (i < n) xsk_ring_cons__cancel(&x->rx, n - i);
    xsk_ring_cons__release(&x->rx, i);
    if (got) xsk_ring_prod__submit(&x->fq, got);
    return frames;
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
    // hard caps here are the frames in flight the UMEM can spare and the ring's room. With
    // multi-buffer a frame larger than a UMEM frame goes as a chain of descriptors (each but
    // the last flagged XDP_PKT_CONTD); without, the caller segments first.
    unsigned fs = x->frame_size;
    unsigned room = x->tx_outstanding < CSL_XSK_TX_LIMIT ? CSL_XSK_TX_LIMIT - x->tx_outstanding : 0;
    if (room > x->nfree) room = x->nfree;
    unsigned ring = xsk_prod_nb_free(&x->tx, CSL_XSK_TX_LIMIT);
    if (room > ring) room = ring;
    unsigned want = 0, descs = 0;
    for (int i = 0; i < n; i++) {
        unsigned need = lens[i] == 0 ? 1 : (lens[i] + fs - 1) / fs;
        if (need > 1 && (!x->sg || need > CSL_XSK_MAX_DESCS)) break;   // too big: the caller drops it
        if (descs + need > room) break;
        descs += need;
        want++;
    }
    __u32 idx = 0;
    if (descs && xsk_ring_prod__reserve(&x->tx, descs, &idx) != descs) want = descs = 0;
    unsigned d = 0;
    for (unsigned i = 0; i < want; i++) {
        uint32_t left = lens[i];
        const char *from = src[i];
        do {
            uint32_t chunk = left > fs ? fs : left;
            uint64_t frame = x->free_frames[--x->nfree];
            memcpy(xsk_umem__get_data(x->area, frame), from, chunk);
            struct xdp_desc *desc = xsk_ring_prod__tx_desc(&x->tx, idx + d++);
            desc->addr = frame;
            desc->len = chunk;
            left -= chunk;
            from += chunk;
            desc->options = left ? XDP_PKT_CONTD : 0;
        } while (left);
    }
    if (d) {
        xsk_ring_prod__submit(&x->tx, d);
        x->tx_outstanding += d;
    }
    unsigned sent = want;
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
struct csl_xsk *csl_xsk_open(const char *ifname, unsigned queue, int mode, int multibuffer, unsigned nframes, unsigned nfill, char *err, int errlen) {
    (void)ifname; (void)queue; (void)mode; (void)multibuffer; (void)nframes; (void)nfill;
    snprintf(err, (size_t)errlen, "Sluice was built without libxdp-dev (xdp/xsk.h): no AF_XDP");
    return NULL;
}
void csl_xsk_close(struct csl_xsk *x) { (void)x; }
int csl_xsk_fd(const struct csl_xsk *x) { (void)x; return -1; }
int csl_xsk_zerocopy(const struct csl_xsk *x) { (void)x; return 0; }
int csl_xsk_driver_mode(const struct csl_xsk *x) { (void)x; return 0; }
unsigned csl_xsk_frame_size(const struct csl_xsk *x) { (void)x; return 0; }
int csl_xsk_multibuffer(const struct csl_xsk *x) { (void)x; return 0; }
const char *csl_xsk_multibuffer_reason(const struct csl_xsk *x) { (void)x; return ""; }
int csl_xsk_recv(struct csl_xsk *x, void *const *dst, unsigned dstlen, uint32_t *lens, int max) {
    (void)x; (void)dst; (void)dstlen; (void)lens; (void)max; return -1;
}
int csl_xsk_send(struct csl_xsk *x, void *const *src, const uint32_t *lens, int n, int *kicked) {
    (void)x; (void)src; (void)lens; (void)n; *kicked = 0; return -1;
}
unsigned csl_xsk_reclaim(struct csl_xsk *x) { (void)x; return 0; }
unsigned csl_xsk_rx_ready(struct csl_xsk *x) { (void)x; return 0; }
#endif
