#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <linux/sockios.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/prctl.h>
#include "CSluiceLinux.h"

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

unsigned long csl_TUNSETIFF(void) { return TUNSETIFF; }
unsigned long csl_TUNSETOFFLOAD(void) { return TUNSETOFFLOAD; }
unsigned long csl_TUNSETVNETHDRSZ(void) { return TUNSETVNETHDRSZ; }
unsigned long csl_TUNGETIFF(void) { return TUNGETIFF; }

/// Opens or creates a TAP device `name` on the already open /dev/net/tun `fd`.
int csl_tun_set_iff(int fd, const char *name, short flags) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = flags;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    return ioctl(fd, TUNSETIFF, &ifr);
}

int csl_ioctl_int(int fd, unsigned long req, int value) {
    return ioctl(fd, req, &value);
}

int csl_ioctl_ulong(int fd, unsigned long req, unsigned long value) {
    return ioctl(fd, req, value);
}

/// Reads the MAC address of `name` (SIOCGIFHWADDR) through the socket `fd`.
int csl_get_hwaddr(int fd, const char *name, uint8_t mac[6]) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) return -1;
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return 0;
}

int csl_get_mtu(int fd, const char *name) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) return -1;
    return ifr.ifr_mtu;
}

/// Sets a kernel interface's txqueuelen (SIOCSIFTXQLEN).
int csl_set_txqlen(int fd, const char *name, int qlen) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_qlen = qlen;
    return ioctl(fd, SIOCSIFTXQLEN, &ifr);
}

/// Sets or clears IFF_UP on a kernel interface.
int csl_set_if_up(int fd, const char *name, int up) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) return -1;
    if (up) ifr.ifr_flags |= IFF_UP; else ifr.ifr_flags &= ~IFF_UP;
    return ioctl(fd, SIOCSIFFLAGS, &ifr);
}

int csl_if_flags(int ifindex) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    if (!if_indextoname((unsigned)ifindex, ifr.ifr_name)) return -1;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    int r = ioctl(s, SIOCGIFFLAGS, &ifr);
    close(s);
    return r < 0 ? -1 : (int)(unsigned short)ifr.ifr_flags;
}

int csl_rtnl_link_monitor(void) {
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s < 0) return -1;
    struct sockaddr_nl a;
    memset(&a, 0, sizeof a);
    a.nl_family = AF_NETLINK;
    a.nl_groups = RTMGRP_LINK;
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) { close(s); return -1; }
    return s;
}

/// The calling thread's timer slack (PR_SET_TIMERSLACK), in ns: how late the kernel may fire
/// its timers and timeouts to coalesce wakeups (50 µs for a normal thread).
int csl_set_timer_slack(unsigned long ns) {
    return prctl(PR_SET_TIMERSLACK, ns, 0, 0, 0);
}

/// Pins the calling thread to the CPUs whose bits are set in `mask` (up to 64 CPUs per word).
int csl_pin_self(const uint64_t *mask, int words) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int w = 0; w < words; w++)
        for (int b = 0; b < 64; b++)
            if (mask[w] & (1ULL << b)) CPU_SET(w * 64 + b, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

/// The CPUs the calling thread may run on, as bit words; returns the number of CPUs set.
int csl_get_affinity(uint64_t *mask, int words) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) < 0) return -1;
    int n = 0;
    for (int w = 0; w < words; w++) {
        mask[w] = 0;
        for (int b = 0; b < 64; b++)
            if (CPU_ISSET(w * 64 + b, &set)) { mask[w] |= 1ULL << b; n++; }
    }
    return n;
}

int csl_gettid(void) { return (int)syscall(SYS_gettid); }

extern char **environ;

int csl_spawn_piped(char *const argv[], char *const envp[], int merge_stderr, int *pid) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -errno;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    if (merge_stderr) posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    else posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    /* No signal state from the caller: an empty mask and every signal at its default, as a
       shell would start the program. */
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawnp(pid, argv[0], &fa, &at, argv, envp ? envp : environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) { close(fds[0]); return -rc; }
    return fds[0];
}

int csl_packet_mreq(int fd, int ifindex, int type, int add) {
    struct packet_mreq mr;
    memset(&mr, 0, sizeof mr);
    mr.mr_ifindex = ifindex;
    mr.mr_type = (unsigned short)type;
    return setsockopt(fd, SOL_PACKET, add ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, &mr, sizeof mr);
}

int csl_packet_bind(int fd, int ifindex) {
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = __builtin_bswap16(ETH_P_ALL);
    sll.sll_ifindex = ifindex;
    return bind(fd, (struct sockaddr *)&sll, sizeof sll);
}

int csl_tpacket_v3_ring(int fd, unsigned block_size, unsigned block_nr, unsigned frame_size, unsigned retire_ms) {
    struct tpacket_req3 req;
    memset(&req, 0, sizeof req);
    req.tp_block_size = block_size;
    req.tp_block_nr = block_nr;
    req.tp_frame_size = frame_size;
    req.tp_frame_nr = (block_size / frame_size) * block_nr;
    req.tp_retire_blk_tov = retire_ms;
    return setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req);
}

int csl_setsockopt_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value);
}

// TPACKET_V3 block and frame accessors (the layout is a union of versioned structs).
uint32_t csl_block_status(const void *block) {
    return __atomic_load_n(&((const struct tpacket_block_desc *)block)->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
}
void csl_block_release(void *block) {
    __atomic_store_n(&((struct tpacket_block_desc *)block)->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
}
uint32_t csl_block_num_pkts(const void *block) {
    return ((const struct tpacket_block_desc *)block)->hdr.bh1.num_pkts;
}
uint32_t csl_block_first_offset(const void *block) {
    return ((const struct tpacket_block_desc *)block)->hdr.bh1.offset_to_first_pkt;
}
uint32_t csl_frame_next_offset(const void *frame) { return ((const struct tpacket3_hdr *)frame)->tp_next_offset; }
uint32_t csl_frame_snaplen(const void *frame) { return ((const struct tpacket3_hdr *)frame)->tp_snaplen; }
uint32_t csl_frame_len(const void *frame) { return ((const struct tpacket3_hdr *)frame)->tp_len; }
uint16_t csl_frame_mac(const void *frame) { return ((const struct tpacket3_hdr *)frame)->tp_mac; }
uint32_t csl_frame_status(const void *frame) { return ((const struct tpacket3_hdr *)frame)->tp_status; }
uint16_t csl_frame_vlan_tci(const void *frame) { return ((const struct tpacket3_hdr *)frame)->hv1.tp_vlan_tci; }
uint16_t csl_frame_vlan_tpid(const void *frame) { return ((const struct tpacket3_hdr *)frame)->hv1.tp_vlan_tpid; }
uint8_t csl_frame_pkttype(const void *frame) {
    // struct sockaddr_ll follows the aligned tpacket3_hdr.
    const struct sockaddr_ll *sll = (const struct sockaddr_ll *)((const uint8_t *)frame + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)));
    return sll->sll_pkttype;
}

int csl_TP_STATUS_USER(void) { return TP_STATUS_USER; }
int csl_TP_STATUS_VLAN_VALID(void) { return TP_STATUS_VLAN_VALID; }
int csl_PACKET_OUTGOING(void) { return PACKET_OUTGOING; }

int csl_sendmmsg(int fd, struct iovec *iov, const int *iovcnt, int n, unsigned *sent_len) {
    struct mmsghdr m[256];
    if (n > 256) n = 256;
    memset(m, 0, sizeof(struct mmsghdr) * (size_t)n);
    struct iovec *v = iov;
    for (int i = 0; i < n; i++) {
        m[i].msg_hdr.msg_iov = v;
        m[i].msg_hdr.msg_iovlen = (size_t)iovcnt[i];
        v += iovcnt[i];
    }
    int r = sendmmsg(fd, m, (unsigned)n, MSG_DONTWAIT);
    if (sent_len) for (int i = 0; i < (r > 0 ? r : 0); i++) sent_len[i] = m[i].msg_len;
    return r;
}

int csl_recv_batch(int fd, void *const *bufs, unsigned buflen, int n, struct csl_rx_info *info) {
    struct mmsghdr m[256];
    struct iovec v[256];
    struct sockaddr_ll sll[256];
    union { char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))]; struct cmsghdr align; } ctl[256];
    if (n > 256) n = 256;
    memset(m, 0, sizeof(struct mmsghdr) * (size_t)n);
    for (int i = 0; i < n; i++) {
        v[i].iov_base = bufs[i];
        v[i].iov_len = buflen;
        m[i].msg_hdr.msg_iov = &v[i];
        m[i].msg_hdr.msg_iovlen = 1;
        m[i].msg_hdr.msg_name = &sll[i];
        m[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_ll);
        m[i].msg_hdr.msg_control = ctl[i].buf;
        m[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
    }
    int r = recvmmsg(fd, m, (unsigned)n, MSG_DONTWAIT | MSG_TRUNC, NULL);
    for (int i = 0; i < (r > 0 ? r : 0); i++) {
        struct csl_rx_info *o = &info[i];
        memset(o, 0, sizeof(*o));
        o->len = m[i].msg_len;
        o->truncated = (m[i].msg_hdr.msg_flags & MSG_TRUNC) || m[i].msg_len > buflen;
        o->pkttype = sll[i].sll_pkttype;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m[i].msg_hdr); c; c = CMSG_NXTHDR(&m[i].msg_hdr, c)) {
            if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA &&
                c->cmsg_len >= CMSG_LEN(sizeof(struct tpacket_auxdata))) {
                struct tpacket_auxdata a;
                memcpy(&a, CMSG_DATA(c), sizeof(a));
                o->status = a.tp_status;
                o->vlan_tci = a.tp_vlan_tci;
                o->vlan_tpid = a.tp_vlan_tpid;
            }
        }
    }
    return r;
}

int csl_errno_is_wouldblock(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

int csl_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
int csl_epoll_add(int epfd, int fd, uint64_t token) {
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = token };
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}
int csl_epoll_del(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }
int csl_epoll_mod(int epfd, int fd, uint64_t token, int armed) {
    struct epoll_event ev = { .events = armed ? EPOLLIN : 0, .data.u64 = token };
    return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}
int csl_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event ev[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, ev, max, timeout_ms);
    for (int i = 0; i < n; i++) { tokens[i] = ev[i].data.u64; events[i] = ev[i].events; }
    return n;
}
int csl_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
int csl_timerfd(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }
int csl_timerfd_set(int fd, uint64_t ns) {
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = (time_t)(ns / 1000000000ULL);
    its.it_value.tv_nsec = (long)(ns % 1000000000ULL);
    return timerfd_settime(fd, ns ? TFD_TIMER_ABSTIME : 0, &its, NULL);
}

int csl_accept_cloexec(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }

int csl_peercred(int fd, int *pid, unsigned *uid, unsigned *gid) {
    struct ucred c;
    socklen_t len = sizeof(c);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0) return -1;
    *pid = c.pid; *uid = c.uid; *gid = c.gid;
    return 0;
}
