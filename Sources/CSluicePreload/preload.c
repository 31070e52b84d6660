// Maps rtnetlink (AF_NETLINK, NETLINK_ROUTE) sockets of an unmodified program onto the Sluice
// daemon's control socket (AF_UNIX SOCK_SEQPACKET, whose datagrams are rtnetlink messages).
// Interposed: socket, bind, connect, getsockname, setsockopt, getsockopt, sendmsg, sendto,
// recvmsg, recvfrom, close, if_nametoindex, if_indextoname, and the opening, stat and realpath of sysctl
// files. Every other call goes to libc.
// Another netlink family is refused (EPROTONOSUPPORT): nothing reaches the kernel's tables.
// What reaches the kernel's networking outside netlink is refused too, with one line naming it:
// entering a namespace (setns, unshare: `ip -n`, `ip netns exec`), the network and TUN ioctls
// (`ip tuntap`, `ip maddr add`; the tunnel ioctls of `ip tunnel` are the daemon's) and reading
// /proc/net or /proc/sys/net — except
// /proc/net/psched, whose clock constants tc needs and the daemon shares, the multicast
// membership files (dev_mcast, igmp, igmp6: `ip maddr show`), which the daemon answers, and
// the sysctl files under /proc/sys/net, which the daemon reads and writes (`sysctl`).
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include "SluicePreload.h"

#define MAXFD 4096
#define SOCKOPT_MSG 15   /* the daemon's private socket-option message */

static unsigned char tracked[MAXFD];
static uint32_t portid[MAXFD];
static uint32_t groups[MAXFD];
static int opts[MAXFD][16];

#define REAL(name, ret, ...) \
    static ret (*real_##name)(__VA_ARGS__); \
    if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

static const char *daemon_path(void) {
    const char *p = getenv("SLUICE_SOCKET");
    return p && *p ? p : "/run/sluice/sluice.sock";
}

static int is_tracked(int fd) { return fd >= 0 && fd < MAXFD && tracked[fd]; }

/* A /proc/sys/net file opened for writing: its path; each write goes to the daemon. */
static char *sysctl_writes[MAXFD];

/* Connects to the daemon and reads its greeting (NLMSG_NOOP carrying our port id). */
static int open_daemon(int type, uint32_t *pid) {
    REAL(socket, int, int, int, int);
    int fd = real_socket(AF_UNIX, SOCK_SEQPACKET | (type & SOCK_CLOEXEC), 0);
    if (fd < 0) return -1;
    struct sockaddr_un a;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, daemon_path(), sizeof(a.sun_path) - 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int e = errno;
        static int told;
        if (!told++) fprintf(stderr, "sluice exec: cannot reach the daemon at %s: %s\n", daemon_path(), strerror(e));
        close(fd);
        errno = e;
        return -1;
    }
    struct nlmsghdr h;
    if (recv(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.nlmsg_type != NLMSG_NOOP) {
        close(fd);
        errno = EPROTO;
        return -1;
    }
    *pid = h.nlmsg_pid;
    if (type & SOCK_NONBLOCK) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

int socket(int domain, int type, int protocol) {
    REAL(socket, int, int, int, int);
    if (domain != AF_NETLINK) return real_socket(domain, type, protocol);
    if (protocol != NETLINK_ROUTE) { errno = EPROTONOSUPPORT; return -1; }
    uint32_t pid = 0;
    int fd = open_daemon(type, &pid);
    if (fd < 0) return -1;
    if (fd >= MAXFD) { close(fd); errno = EMFILE; return -1; }
    tracked[fd] = 1; portid[fd] = pid; groups[fd] = 0;
    memset(opts[fd], 0, sizeof(opts[fd]));
    return fd;
}

// A socket option passed to the daemon as its private message.
static void send_sockopt(int fd, int level, int name, int value) {
    struct { struct nlmsghdr h; uint32_t level, name, value; } m;
    memset(&m, 0, sizeof(m));
    m.h.nlmsg_len = sizeof(m);
    m.h.nlmsg_type = SOCKOPT_MSG;
    m.level = (uint32_t)level; m.name = (uint32_t)name; m.value = (uint32_t)value;
    send(fd, &m, sizeof(m), MSG_NOSIGNAL);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    REAL(bind, int, int, const struct sockaddr *, socklen_t);
    if (!is_tracked(fd)) return real_bind(fd, addr, len);
    if (addr && len >= sizeof(struct sockaddr_nl)) {
        // nl_groups: bit i is multicast group i + 1 (the legacy RTMGRP_* mask).
        uint32_t g = ((const struct sockaddr_nl *)addr)->nl_groups;
        for (int i = 0; i < 32; i++)
            if ((g & (1u << i)) && !(groups[fd] & (1u << i))) send_sockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, i + 1);
        groups[fd] |= g;
    }
    return 0;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    REAL(connect, int, int, const struct sockaddr *, socklen_t);
    if (!is_tracked(fd)) return real_connect(fd, addr, len);
    return 0;
}

static void fill_nl(struct sockaddr *addr, socklen_t *len, uint32_t pid, uint32_t grp) {
    if (!addr || !len) return;
    struct sockaddr_nl nl;
    memset(&nl, 0, sizeof(nl));
    nl.nl_family = AF_NETLINK;
    nl.nl_pid = pid;
    nl.nl_groups = grp;
    socklen_t n = *len < sizeof(nl) ? *len : sizeof(nl);
    memcpy(addr, &nl, n);
    *len = sizeof(nl);
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len) {
    REAL(getsockname, int, int, struct sockaddr *, socklen_t *);
    if (!is_tracked(fd)) return real_getsockname(fd, addr, len);
    fill_nl(addr, len, portid[fd], groups[fd]);
    return 0;
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len) {
    REAL(setsockopt, int, int, int, int, const void *, socklen_t);
    if (!is_tracked(fd)) return real_setsockopt(fd, level, name, val, len);
    if (level == SOL_NETLINK) {
        int v = (val && len >= sizeof(int)) ? *(const int *)val : 0;
        if (name >= 0 && name < 16) opts[fd][name] = v;
        send_sockopt(fd, level, name, v);
        return 0;
    }
    if (level == SOL_SOCKET) {
        // Buffer sizes apply to the daemon socket; the *FORCE variants need privileges the
        // kernel's netlink socket would have granted: accepted either way.
        if (name == SO_SNDBUFFORCE) name = SO_SNDBUF;
        if (name == SO_RCVBUFFORCE) name = SO_RCVBUF;
        real_setsockopt(fd, level, name, val, len);
        return 0;
    }
    return 0;
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len) {
    REAL(getsockopt, int, int, int, int, void *, socklen_t *);
    if (!is_tracked(fd) || level != SOL_NETLINK) return real_getsockopt(fd, level, name, val, len);
    if (!val || !len || *len < sizeof(int)) { errno = EINVAL; return -1; }
    *(int *)val = (name >= 0 && name < 16) ? opts[fd][name] : 0;
    *len = sizeof(int);
    return 0;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
    REAL(sendmsg, ssize_t, int, const struct msghdr *, int);
    if (!is_tracked(fd)) return real_sendmsg(fd, msg, flags);
    struct msghdr m = *msg;
    m.msg_name = NULL;
    m.msg_namelen = 0;
    return real_sendmsg(fd, &m, flags | MSG_NOSIGNAL);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen) {
    REAL(sendto, ssize_t, int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    if (!is_tracked(fd)) return real_sendto(fd, buf, len, flags, to, tolen);
    return real_sendto(fd, buf, len, flags | MSG_NOSIGNAL, NULL, 0);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
    REAL(recvmsg, ssize_t, int, struct msghdr *, int);
    if (!is_tracked(fd)) return real_recvmsg(fd, msg, flags);
    void *name = msg->msg_name;
    socklen_t namelen = msg->msg_namelen;
    msg->msg_name = NULL;
    msg->msg_namelen = 0;
    ssize_t r = real_recvmsg(fd, msg, flags);
    msg->msg_name = name;
    msg->msg_namelen = namelen;
    if (r >= 0 && name) fill_nl(name, &msg->msg_namelen, 0, 0);   // from the kernel: port 0
    return r;
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen) {
    REAL(recvfrom, ssize_t, int, void *, size_t, int, struct sockaddr *, socklen_t *);
    if (!is_tracked(fd)) return real_recvfrom(fd, buf, len, flags, from, fromlen);
    ssize_t r = real_recvfrom(fd, buf, len, flags, NULL, NULL);
    if (r >= 0) fill_nl(from, fromlen, 0, 0);
    return r;
}

static ssize_t sysctl_write(int fd, const void *buf, size_t n);

int close(int fd) {
    REAL(close, int, int);
    if (is_tracked(fd)) tracked[fd] = 0;
    if (fd >= 0 && fd < MAXFD && sysctl_writes[fd]) { free(sysctl_writes[fd]); sysctl_writes[fd] = NULL; }
    return real_close(fd);
}

ssize_t write(int fd, const void *buf, size_t n) {
    REAL(write, ssize_t, int, const void *, size_t);
    if (fd >= 0 && fd < MAXFD && sysctl_writes[fd]) return sysctl_write(fd, buf, n);
    return real_write(fd, buf, n);
}

/* One RTM_GETLINK to the daemon, by index or by name; fills index and name from the reply. */
static int getlink(int index, const char *name, unsigned *out_index, char *out_name) {
    uint32_t pid;
    int fd = open_daemon(SOCK_CLOEXEC, &pid);
    if (fd < 0) return -1;
    struct { struct nlmsghdr h; struct ifinfomsg i; char attrs[64]; } req;
    memset(&req, 0, sizeof(req));
    req.h.nlmsg_type = RTM_GETLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST;
    req.h.nlmsg_seq = 1;
    req.i.ifi_index = index;
    size_t len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    if (name) {
        size_t n = strnlen(name, IFNAMSIZ - 1);
        struct rtattr *a = (struct rtattr *)((char *)&req + NLMSG_ALIGN(len));
        a->rta_type = IFLA_IFNAME;
        a->rta_len = RTA_LENGTH(n + 1);
        memcpy(RTA_DATA(a), name, n);
        ((char *)RTA_DATA(a))[n] = 0;
        len = NLMSG_ALIGN(len) + RTA_ALIGN(a->rta_len);
    }
    req.h.nlmsg_len = len;
    char buf[8192];
    ssize_t r = -1;
    if (send(fd, &req, len, MSG_NOSIGNAL) == (ssize_t)len) r = recv(fd, buf, sizeof(buf), 0);
    REAL(close, int, int);
    real_close(fd);
    if (r < (ssize_t)sizeof(struct nlmsghdr)) { errno = ENODEV; return -1; }
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len > (size_t)r) { errno = ENODEV; return -1; }
    struct ifinfomsg *ifi = NLMSG_DATA(h);
    *out_index = (unsigned)ifi->ifi_index;
    if (out_name) {
        int alen = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*ifi));
        for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
            if (a->rta_type == IFLA_IFNAME) { strncpy(out_name, RTA_DATA(a), IFNAMSIZ - 1); out_name[IFNAMSIZ - 1] = 0; }
        }
    }
    return 0;
}

unsigned int if_nametoindex(const char *name) {
    unsigned idx = 0;
    if (!name || getlink(0, name, &idx, NULL) != 0) { errno = ENODEV; return 0; }
    return idx;
}

char *if_indextoname(unsigned int index, char *name) {
    unsigned idx = 0;
    if (!name || getlink((int)index, NULL, &idx, name) != 0) { errno = ENXIO; return NULL; }
    return name;
}

/* ---- What would reach the kernel's networking without netlink: refused, said once. ---- */

static void refuse(const char *what) {
    static int told;
    if (!told++) fprintf(stderr, "sluice exec: %s would act on the kernel, not the daemon; refused\n", what);
}

int setns(int fd, int nstype) {
    (void)fd; (void)nstype;
    refuse("entering a network namespace (setns)");
    errno = EPERM;
    return -1;
}

int unshare(int flags) {
    (void)flags;
    refuse("unsharing namespaces");
    errno = EPERM;
    return -1;
}

/* The tunnel ioctls (`ip tunnel`: SIOCGETTUNNEL, SIOCADDTUNNEL, SIOCDELTUNNEL, SIOCCHGTUNNEL
   with a struct ip_tunnel_parm) go to the daemon as the private message TUNNEL_MSG: the
   command, ifr_name and the parm; it answers with the errno and the parm to copy back. */
#define TUNNEL_MSG 13
#define TUNNEL_PARM_LEN 52
static int tunnel_ioctl(unsigned long request, struct ifreq *ifr) {
    if (!ifr || !ifr->ifr_data) { errno = EFAULT; return -1; }
    uint32_t pid = 0;
    int fd = open_daemon(SOCK_CLOEXEC, &pid);
    if (fd < 0) return -1;
    struct { struct nlmsghdr h; uint32_t cmd; char name[IFNAMSIZ]; unsigned char parm[TUNNEL_PARM_LEN]; } m;
    memset(&m, 0, sizeof(m));
    m.h.nlmsg_len = sizeof(m);
    m.h.nlmsg_type = TUNNEL_MSG;
    m.h.nlmsg_flags = NLM_F_REQUEST;
    m.cmd = (uint32_t)request;
    memcpy(m.name, ifr->ifr_name, IFNAMSIZ);
    m.name[IFNAMSIZ - 1] = 0;
    memcpy(m.parm, ifr->ifr_data, TUNNEL_PARM_LEN);
    struct { struct nlmsghdr h; int32_t err; unsigned char parm[TUNNEL_PARM_LEN]; } r;
    ssize_t n = -1;
    if (send(fd, &m, sizeof(m), MSG_NOSIGNAL) == (ssize_t)sizeof(m)) n = recv(fd, &r, sizeof(r), 0);
    REAL(close, int, int);
    real_close(fd);
    if (n < (ssize_t)sizeof(r) || r.h.nlmsg_type != TUNNEL_MSG) { errno = EIO; return -1; }
    if (r.err != 0) { errno = r.err; return -1; }
    memcpy(ifr->ifr_data, r.parm, TUNNEL_PARM_LEN);
    return 0;
}

/* Socket ioctls (SIOC*: 0x89xx) and TUN's ('T', 200 and up); terminal ioctls pass. */
int ioctl(int fd, unsigned long request, ...) {
    REAL(ioctl, int, int, unsigned long, void *);
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (request >= 0x89F0 && request <= 0x89F3) return tunnel_ioctl(request, (struct ifreq *)arg);
    if ((request & 0xff00) == 0x8900 || (_IOC_TYPE(request) == 'T' && _IOC_NR(request) >= 200)) {
        refuse("a network ioctl");
        errno = EOPNOTSUPP;
        return -1;
    }
    return real_ioctl(fd, request, arg);
}

static int kernel_net_path(const char *path) {
    if (!path) return 0;
    if (strcmp(path, "/proc/net/psched") == 0) return 0;
    return strncmp(path, "/proc/net/", 10) == 0 || strncmp(path, "/proc/sys/net/", 14) == 0
        || strncmp(path, "/proc/self/net/", 15) == 0;
}

/* The multicast membership files (`ip maddr show`) and the sysctl files are the daemon's:
   asked for with the private message PROC_MSG (the path, NUL-terminated; for a write,
   NLM_F_REPLACE and the value after it), answered with PROC_MSG carrying the errno (u32, 0 or
   positive) and, for a read, the text. Returns the text's length, or -1 with errno set. */
#define PROC_MSG 14
static char proc_buf[65536];
static ssize_t daemon_proc(const char *path, const char *value, size_t value_len) {
    uint32_t pid = 0;
    size_t plen = strlen(path) + 1;
    if (plen > 256 || value_len > 4096) { errno = EINVAL; return -1; }
    int fd = open_daemon(SOCK_CLOEXEC, &pid);
    if (fd < 0) return -1;
    struct { struct nlmsghdr h; char body[256 + 4096]; } m;
    memset(&m, 0, sizeof(m));
    memcpy(m.body, path, plen);
    if (value) memcpy(m.body + plen, value, value_len);
    m.h.nlmsg_len = NLMSG_LENGTH(plen + value_len);
    m.h.nlmsg_type = PROC_MSG;
    m.h.nlmsg_flags = value ? NLM_F_REPLACE : 0;
    ssize_t n = -1;
    if (send(fd, &m, m.h.nlmsg_len, MSG_NOSIGNAL) == (ssize_t)m.h.nlmsg_len) n = recv(fd, proc_buf, sizeof(proc_buf), 0);
    close(fd);
    if (n < (ssize_t)NLMSG_LENGTH(4) || ((struct nlmsghdr *)proc_buf)->nlmsg_type != PROC_MSG) { errno = EIO; return -1; }
    size_t total = ((struct nlmsghdr *)proc_buf)->nlmsg_len;   /* without the alignment padding */
    if (total > (size_t)n) total = (size_t)n;
    uint32_t err;
    memcpy(&err, proc_buf + NLMSG_HDRLEN, 4);
    if (err) { errno = (int)err; return -1; }
    size_t len = total - NLMSG_LENGTH(4);
    memmove(proc_buf, proc_buf + NLMSG_LENGTH(4), len);
    return (ssize_t)len;
}

static FILE *daemon_file(const char *path) {
    ssize_t len = daemon_proc(path, NULL, 0);
    if (len < 0) return NULL;
    if (len == 0) {
        REAL(fopen, FILE *, const char *, const char *);
        return real_fopen("/dev/null", "r");
    }
    char *text = malloc((size_t)len + 1);   /* lives as long as the stream; the program is short-lived */
    if (!text) return NULL;
    memcpy(text, proc_buf, (size_t)len);
    text[len] = 0;
    return fmemopen(text, (size_t)len, "r");
}

/* /sys/class/net/DEV/napi_defer_hard_irqs and gro_flush_timeout: the NAPI settings of the
   daemon's devices, read and written as its sysctl files are. */
static int sysfs_napi_path(const char *path) {
    if (!path || strncmp(path, "/sys/class/net/", 15) != 0) return 0;
    const char *dev = path + 15, *slash = strchr(dev, '/');
    if (!slash || slash == dev) return 0;
    return strcmp(slash + 1, "napi_defer_hard_irqs") == 0 || strcmp(slash + 1, "gro_flush_timeout") == 0;
}

static int sysctl_path(const char *path) {
    return path && (strncmp(path, "/proc/sys/net/", 14) == 0 || sysfs_napi_path(path));
}

static int daemon_served(const char *path) {
    return path && (strcmp(path, "/proc/net/dev_mcast") == 0 || strcmp(path, "/proc/net/igmp") == 0 || strcmp(path, "/proc/net/igmp6") == 0
                    || sysctl_path(path));
}

/* A sysctl file opened as procps opens it: for reading, a memory file holding the daemon's
   answer; for writing, a memory file each write to which is the daemon's to take or refuse
   (as proc_sys_write: EINVAL for a value the key does not take). */
static int sysctl_open(const char *path, int flags) {
    /* A device's sysfs file exists only while the daemon has the device: ENOENT at open. */
    if (sysfs_napi_path(path) && (flags & O_ACCMODE) != O_RDONLY && daemon_proc(path, NULL, 0) < 0) return -1;
    int fd = memfd_create("sluice-sysctl", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
    if (fd < 0) return -1;
    if ((flags & O_ACCMODE) == O_RDONLY) {
        ssize_t len = daemon_proc(path, NULL, 0);
        REAL(write, ssize_t, int, const void *, size_t);
        if (len < 0 || real_write(fd, proc_buf, (size_t)len) != len) { int e = errno; close(fd); errno = e; return -1; }
        lseek(fd, 0, SEEK_SET);
        return fd;
    }
    if (fd >= MAXFD) { close(fd); errno = EMFILE; return -1; }
    sysctl_writes[fd] = strdup(path);
    return fd;
}

static ssize_t sysctl_write(int fd, const void *buf, size_t n) {
    if (n == 0) return 0;
    return daemon_proc(sysctl_writes[fd], buf, n) < 0 ? -1 : (ssize_t)n;
}

static int open_common(const char *path, int flags, int *handled) {
    *handled = sysctl_path(path);
    return *handled ? sysctl_open(path, flags) : 0;
}

/* fopen(…, "w") of a sysctl file: a stream whose close sends the value (glibc's fclose does
   not go through close(), so the stream is a cookie one). */
/* A cookie's write returns 0 on an error, never a negative count (fopencookie(3)); errno
   stays the daemon's answer, which the stream's user then reports. */
static ssize_t sysctl_cookie_write(void *c, const char *b, size_t n) {
    ssize_t r = write((int)(intptr_t)c, b, n);
    return r < 0 ? 0 : r;
}
static int sysctl_cookie_close(void *c) { return close((int)(intptr_t)c); }
static FILE *sysctl_fopen_write(const char *path) {
    int fd = sysctl_open(path, O_WRONLY);
    if (fd < 0) return NULL;
    cookie_io_functions_t io = { .read = NULL, .write = sysctl_cookie_write, .seek = NULL, .close = sysctl_cookie_close };
    FILE *f = fopencookie((void *)(intptr_t)fd, "w", io);
    if (!f) close(fd);
    return f;
}

#define OPEN_MODE(flags) mode_t mode = 0; \
    if ((flags) & (O_CREAT | __O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); }

/* open, open64, openat, openat64 and the fortified forms (_FORTIFY_SOURCE, which procps's
   sysctl calls): a sysctl path is the daemon's, anything else goes to libc. */
#define OPEN_WRAPPER(name, params, types, args) \
    int name params { \
        OPEN_MODE(flags) \
        int handled, r = open_common(path, flags, &handled); \
        if (handled) return r; \
        static int (*real_##name) types; \
        if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name); \
        return real_##name args; \
    }
#define OPEN2_WRAPPER(name, params, types, args) \
    int name params { \
        int handled, r = open_common(path, flags, &handled); \
        if (handled) return r; \
        static int (*real_##name) types; \
        if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name); \
        return real_##name args; \
    }
OPEN_WRAPPER(open, (const char *path, int flags, ...), (const char *, int, ...), (path, flags, mode))
OPEN_WRAPPER(open64, (const char *path, int flags, ...), (const char *, int, ...), (path, flags, mode))
OPEN_WRAPPER(openat, (int dirfd, const char *path, int flags, ...), (int, const char *, int, ...), (dirfd, path, flags, mode))
OPEN_WRAPPER(openat64, (int dirfd, const char *path, int flags, ...), (int, const char *, int, ...), (dirfd, path, flags, mode))
OPEN2_WRAPPER(__open_2, (const char *path, int flags), (const char *, int), (path, flags))
OPEN2_WRAPPER(__open64_2, (const char *path, int flags), (const char *, int), (path, flags))
OPEN2_WRAPPER(__openat_2, (int dirfd, const char *path, int flags), (int, const char *, int), (dirfd, path, flags))
OPEN2_WRAPPER(__openat64_2, (int dirfd, const char *path, int flags), (int, const char *, int), (dirfd, path, flags))

FILE *fopen(const char *path, const char *mode) {
    REAL(fopen, FILE *, const char *, const char *);
    if (sysctl_path(path) && mode && (strchr(mode, 'w') || strchr(mode, 'a') || strchr(mode, '+'))) return sysctl_fopen_write(path);
    if (daemon_served(path)) return daemon_file(path);
    if (kernel_net_path(path)) { refuse(path); errno = EACCES; return NULL; }
    return real_fopen(path, mode);
}

FILE *fopen64(const char *path, const char *mode) {
    REAL(fopen64, FILE *, const char *, const char *);
    if (sysctl_path(path) && mode && (strchr(mode, 'w') || strchr(mode, 'a') || strchr(mode, '+'))) return sysctl_fopen_write(path);
    if (daemon_served(path)) return daemon_file(path);
    if (kernel_net_path(path)) { refuse(path); errno = EACCES; return NULL; }
    return real_fopen64(path, mode);
}

/* stat of a sysctl file (procps's sysctl stats each key's file before opening it): a file the
   daemon answers for exists, as a regular file of mode 0644 as procfs shows it, and one it does
   not is ENOENT, whatever this machine's own /proc/sys/net holds (its per-device directories
   are the kernel's devices, not the daemon's). */
static int sysctl_stat(const char *path, struct stat *st) {
    int dir = 0;
    if (daemon_proc(path, NULL, 0) < 0) {
        if (errno != EISDIR) return -1;
        dir = 1;   /* the daemon's answer for a directory of keys */
    }
    memset(st, 0, sizeof(*st));
    st->st_mode = dir ? (S_IFDIR | 0555) : (S_IFREG | 0644);
    st->st_nlink = dir ? 2 : 1;
    return 0;
}
#define STAT_WRAPPER(name, type) \
    int name(const char *path, type *st) { \
        if (sysctl_path(path)) return sysctl_stat(path, (struct stat *)st); \
        REAL(name, int, const char *, type *); \
        return real_##name(path, st); \
    }
STAT_WRAPPER(stat, struct stat)
STAT_WRAPPER(stat64, struct stat64)
STAT_WRAPPER(lstat, struct stat)
STAT_WRAPPER(lstat64, struct stat64)

/* realpath of a sysctl file (procps resolves each key's path after its stat): the path itself,
   which holds no links, since this machine's own /proc/sys/net need not have it. */
char *realpath(const char *path, char *resolved) {
    REAL(realpath, char *, const char *, char *);
    if (!sysctl_path(path)) return real_realpath(path, resolved);
    size_t n = strlen(path);
    if (n >= 4096) { errno = ENAMETOOLONG; return NULL; }
    char *out = resolved ? resolved : malloc(4096);
    if (!out) return NULL;
    memcpy(out, path, n + 1);
    return out;
}

/* A directory of /proc/sys/net (procps's `sysctl -a`, or a key naming a directory): its
   entries are the daemon's keys, listed by the daemon (the path with a trailing slash; a name
   a line, a directory's ending in a slash), in procfs's order, not this machine's own. The
   DIR handed out is the shim's own, recognised by readdir and closedir. */
#define FAKE_DIR_MAGIC 0x534c4443u
struct fake_dir {
    uint32_t magic;
    size_t count, pos;
    struct dirent *ents;
    struct dirent64 *ents64;
};

static int sysctl_dir_path(const char *path) {
    return path && (strcmp(path, "/proc/sys/net") == 0 || sysctl_path(path));
}

static DIR *fake_opendir(const char *path) {
    char req[300];
    size_t n = strlen(path);
    if (n + 2 > sizeof(req)) { errno = ENAMETOOLONG; return NULL; }
    memcpy(req, path, n);
    if (n == 0 || req[n - 1] != '/') req[n++] = '/';
    req[n] = 0;
    ssize_t len = daemon_proc(req, NULL, 0);
    if (len < 0) return NULL;
    size_t lines = 0;
    for (ssize_t i = 0; i < len; i++) if (proc_buf[i] == '\n') lines++;
    struct fake_dir *d = calloc(1, sizeof(*d));
    if (!d) return NULL;
    d->ents = calloc(lines + 2, sizeof(struct dirent));
    d->ents64 = calloc(lines + 2, sizeof(struct dirent64));
    if (!d->ents || !d->ents64) { free(d->ents); free(d->ents64); free(d); errno = ENOMEM; return NULL; }
    d->magic = FAKE_DIR_MAGIC;
    const char *dots[2] = { ".", ".." };
    for (int i = 0; i < 2; i++) {
        d->ents[d->count].d_ino = d->ents64[d->count].d_ino = d->count + 1;
        d->ents[d->count].d_type = d->ents64[d->count].d_type = DT_DIR;
        strcpy(d->ents[d->count].d_name, dots[i]);
        strcpy(d->ents64[d->count].d_name, dots[i]);
        d->count++;
    }
    char *p = proc_buf, *end = proc_buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        size_t l = (size_t)(nl - p);
        int isdir = l > 0 && p[l - 1] == '/';
        if (isdir) l--;
        if (l > 0 && l < sizeof(d->ents[0].d_name)) {
            struct dirent *e = &d->ents[d->count];
            struct dirent64 *e64 = &d->ents64[d->count];
            e->d_ino = e64->d_ino = d->count + 1;
            e->d_off = e64->d_off = (off_t)(d->count + 1);
            e->d_reclen = sizeof(*e); e64->d_reclen = sizeof(*e64);
            e->d_type = e64->d_type = isdir ? DT_DIR : DT_REG;
            memcpy(e->d_name, p, l); e->d_name[l] = 0;
            memcpy(e64->d_name, p, l); e64->d_name[l] = 0;
            d->count++;
        }
        p = nl + 1;
    }
    return (DIR *)d;
}

static struct fake_dir *as_fake(DIR *dir) {
    struct fake_dir *d = (struct fake_dir *)dir;
    return d && d->magic == FAKE_DIR_MAGIC ? d : NULL;
}

DIR *opendir(const char *path) {
    REAL(opendir, DIR *, const char *);
    if (sysctl_dir_path(path)) return fake_opendir(path);
    return real_opendir(path);
}

struct dirent *readdir(DIR *dir) {
    REAL(readdir, struct dirent *, DIR *);
    struct fake_dir *d = as_fake(dir);
    if (!d) return real_readdir(dir);
    return d->pos < d->count ? &d->ents[d->pos++] : NULL;
}

struct dirent64 *readdir64(DIR *dir) {
    REAL(readdir64, struct dirent64 *, DIR *);
    struct fake_dir *d = as_fake(dir);
    if (!d) return real_readdir64(dir);
    return d->pos < d->count ? &d->ents64[d->pos++] : NULL;
}

int closedir(DIR *dir) {
    REAL(closedir, int, DIR *);
    struct fake_dir *d = as_fake(dir);
    if (!d) return real_closedir(dir);
    d->magic = 0;
    free(d->ents); free(d->ents64); free(d);
    return 0;
}
