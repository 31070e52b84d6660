// Glue for Linux interfaces Swift cannot import cleanly: ioctl request numbers built by macros,
// CPU_SET macros, sendmmsg, and the TPACKET/virtio layouts. No logic lives here; the bodies are in
// shim.c, compiled with _GNU_SOURCE.
#ifndef CSLUICE_LINUX_H
#define CSLUICE_LINUX_H
#include <stdint.h>
#include <sys/uio.h>

unsigned long csl_TUNSETIFF(void);
unsigned long csl_TUNSETOFFLOAD(void);
unsigned long csl_TUNSETVNETHDRSZ(void);
unsigned long csl_TUNGETIFF(void);
int csl_tun_set_iff(int fd, const char *name, short flags);
int csl_ioctl_int(int fd, unsigned long req, int value);
int csl_ioctl_ulong(int fd, unsigned long req, unsigned long value);
int csl_get_hwaddr(int fd, const char *name, uint8_t mac[6]);
int csl_get_mtu(int fd, const char *name);
int csl_set_if_up(int fd, const char *name, int up);
/// The kernel interface's flags (SIOCGIFFLAGS: IFF_UP, IFF_RUNNING …) by ifindex, or -1.
int csl_if_flags(int ifindex);
/// A NETLINK_ROUTE socket in this namespace joined to RTMGRP_LINK (non-blocking), or -1.
int csl_rtnl_link_monitor(void);
int csl_set_txqlen(int fd, const char *name, int qlen);
int csl_pin_self(const uint64_t *mask, int words);
int csl_set_timer_slack(unsigned long ns);
int csl_get_affinity(uint64_t *mask, int words);
int csl_gettid(void);
/// posix_spawnp of argv (envp, or this process's environment when NULL) with stdin from
/// /dev/null, stdout (and stderr when merge_stderr, else /dev/null) into a new pipe, every
/// other fd closed and no signal blocked or ignored. Returns the pipe's read end
/// (close-on-exec) and sets *pid, or -errno.
int csl_spawn_piped(char *const argv[], char *const envp[], int merge_stderr, int *pid);
int csl_packet_mreq(int fd, int ifindex, int type, int add);
int csl_packet_bind(int fd, int ifindex);
/// What recvmmsg said about one received frame (length, MSG_TRUNC, sll_pkttype, PACKET_AUXDATA).
struct csl_rx_info { uint32_t len; uint32_t status; uint16_t vlan_tci; uint16_t vlan_tpid; uint8_t pkttype; uint8_t truncated; };
/// recvmmsg of up to n frames into bufs (each buflen bytes), non-blocking; returns how many or -1.
int csl_recv_batch(int fd, void *const *bufs, unsigned buflen, int n, struct csl_rx_info *info);
/// AF_XDP (xsk.c): one XSK socket and the UMEM it owns, set up through libxdp (dlopen).
/// mode: 0 auto, 1 copy, 2 zero-copy. recv copies frames out and refills; send copies frames in,
/// reclaims completions and kicks the kernel only when it asks (need_wakeup); *kicked is the
/// number of kicks, or -errno when a kick failed for another reason than a full queue.
struct csl_xsk;
/// The most descriptors one multi-buffer frame may take (the kernel's MAX_SKB_FRAGS + 1).
#define CSL_XSK_MAX_DESCS 17
int csl_xsk_available(void);
/// XDP_STATISTICS of an XSK socket: rx_dropped, rx_invalid_descs, tx_invalid_descs,
/// rx_ring_full, rx_fill_ring_empty_descs, tx_ring_empty_descs; -1 on failure.
int csl_xdp_statistics(int fd, uint64_t out[6]);
struct csl_xsk *csl_xsk_open(const char *ifname, unsigned queue, int mode, int multibuffer, unsigned nframes, unsigned nfill, char *err, int errlen);
void csl_xsk_close(struct csl_xsk *x);
int csl_xsk_fd(const struct csl_xsk *x);
int csl_xsk_zerocopy(const struct csl_xsk *x);
int csl_xsk_driver_mode(const struct csl_xsk *x);
unsigned csl_xsk_frame_size(const struct csl_xsk *x);
/// Whether frames travel as chains of descriptors (XDP_USE_SG, Sluice's own frags-aware
/// program); when not, why (empty when multi-buffer was not tried).
int csl_xsk_multibuffer(const struct csl_xsk *x);
const char *csl_xsk_multibuffer_reason(const struct csl_xsk *x);
/// Descriptors waiting in the rx ring (up to 256), none taken.
unsigned csl_xsk_rx_ready(struct csl_xsk *x);
int csl_xsk_recv(struct csl_xsk *x, void *const *dst, unsigned dstlen, uint32_t *lens, int max);
int csl_xsk_send(struct csl_xsk *x, void *const *src, const uint32_t *lens, int n, int *kicked);
/// Takes the completion ring's entries back as free frames: how many tx descriptors completed.
unsigned csl_xsk_reclaim(struct csl_xsk *x);
int csl_tpacket_v3_ring(int fd, unsigned block_size, unsigned block_nr, unsigned frame_size, unsigned retire_ms);
int csl_setsockopt_int(int fd, int level, int name, int value);
uint32_t csl_block_status(const void *block);
void csl_block_release(void *block);
uint32_t csl_block_num_pkts(const void *block);
uint32_t csl_block_first_offset(const void *block);
uint32_t csl_frame_next_offset(const void *frame);
uint32_t csl_frame_snaplen(const void *frame);
uint32_t csl_frame_len(const void *frame);
uint16_t csl_frame_mac(const void *frame);
uint32_t csl_frame_status(const void *frame);
/// The VLAN tag the kernel moved out of the frame (valid when TP_STATUS_VLAN_VALID).
uint16_t csl_frame_vlan_tci(const void *frame);
/// Its TPID (valid when TP_STATUS_VLAN_TPID_VALID).
uint16_t csl_frame_vlan_tpid(const void *frame);
uint8_t csl_frame_pkttype(const void *frame);
int csl_TP_STATUS_USER(void);
int csl_TP_STATUS_VLAN_VALID(void);
int csl_PACKET_OUTGOING(void);

/// io_uring (uring.c, raw system calls): a ring of at least `entries` submissions, or NULL with
/// *error set (ENOSYS where the kernel or its headers lack io_uring, EPERM where it is disabled).
struct csl_uring;
struct csl_uring *csl_uring_open(unsigned entries, int *error);
void csl_uring_close(struct csl_uring *u);
unsigned csl_uring_entries(const struct csl_uring *u);
/// writev(2) of `n` frames to `fd` (frame i is iov[i * iov_per ..< (i + 1) * iov_per]) in one
/// io_uring_enter that waits until every write submitted has completed; res[i] is what write
/// returned for frame i, or -errno. Returns how many frames were attempted (at most the ring's
/// entries).
int csl_uring_writev_batch(struct csl_uring *u, int fd, const struct iovec *iov, int iov_per, int n, int32_t *res);
/// read(2) of up to `len` bytes into each of bufs[0..<n] with RWF_NOWAIT, in one io_uring_enter:
/// res[i] is the length read into bufs[i], or -errno (-EAGAIN: nothing was queued).
int csl_uring_read_batch(struct csl_uring *u, int fd, void *const *bufs, unsigned len, int n, int32_t *res);

/// sendmmsg(2) of `n` frames, each given as `iovcnt[i]` iovecs taken in order from `iov`.
int csl_sendmmsg(int fd, struct iovec *iov, const int *iovcnt, int n, unsigned *sent_len);
int csl_errno_is_wouldblock(int e);

// epoll and eventfd (not in Swift's Glibc module).
int csl_epoll_create(void);
int csl_epoll_add(int epfd, int fd, uint64_t token);
int csl_epoll_del(int epfd, int fd);
/* Turns a descriptor's EPOLLIN interest on (armed) or off, keeping its token. */
int csl_epoll_mod(int epfd, int fd, uint64_t token, int armed);
/// Waits; fills tokens[i] and events[i]; returns the count or -1.
int csl_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms);
int csl_eventfd(void);
/// accept4(fd, NULL, NULL, SOCK_CLOEXEC).
int csl_accept_cloexec(int fd);
/// SO_PEERCRED of a connected AF_UNIX socket.
int csl_peercred(int fd, int *pid, unsigned *uid, unsigned *gid);
int csl_timerfd(void);
/// Arms a CLOCK_MONOTONIC timerfd at absolute time `ns` (0 disarms).
int csl_timerfd_set(int fd, uint64_t ns);
#endif
