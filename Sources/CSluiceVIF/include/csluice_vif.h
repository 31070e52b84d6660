#ifndef CSLUICE_VIF_H
#define CSLUICE_VIF_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What Swift cannot call directly for a virtual NIC: memfd_create, and datagrams carrying
   file descriptors (SCM_RIGHTS). */
int csv_memfd(const char *name, size_t size);
/* Sends `len` bytes and up to 4 fds; returns bytes sent or -1. */
ssize_t csv_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);
/* Receives a datagram and up to `maxfds` fds (closed beyond that); *nfds gets their count.
   Returns bytes or -1 (errno). */
ssize_t csv_recv_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds, int flags);
/* 1 when fd is a memfd sealed against shrinking (so a mapping of it can never fault), else 0. */
int csv_fd_sealed(int fd);
/* A non-blocking, close-on-exec eventfd. */
int csv_eventfd(void);
/* The size of the file behind fd, or -1. */
int64_t csv_fd_size(int fd);
#endif
