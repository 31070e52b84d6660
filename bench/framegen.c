// Frame generator for bench/vnic.sh: the same traffic its ring generator (`sluice-vnic --blast`)
// sends, but into a kernel interface (a TAP's kernel side) through AF_PACKET with virtio-net
// headers (PACKET_VNET_HDR), for a bounded time.
//   framegen IFNAME DST_MAC SECONDS --size N   plain frames of N bytes (ethertype 0x88b5)
//   framegen IFNAME DST_MAC SECONDS --gso N    TCP/IPv4 super-frames of N bytes, MSS 1448, the
//                                              checksum left blank (NEEDS_CSUM), as a TSO stack
//                                              hands them over
// Prints "sent N frames of B bytes in S s = P fps, G Gbit/s (sendmmsg refusals R)": R counts
// the calls that sent nothing (the socket would have blocked).
#define _GNU_SOURCE
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

int main(int argc, char **argv) {
  if (argc != 6 || (strcmp(argv[4], "--size") && strcmp(argv[4], "--gso"))) {
    fprintf(stderr, "usage: %s IFNAME DST_MAC SECONDS --size|--gso BYTES\n", argv[0]);
    return 2;
  }
  int gso = !strcmp(argv[4], "--gso");
  double dur = atof(argv[3]);
  int size = atoi(argv[5]);
  if (dur <= 0 || dur > 60) { fprintf(stderr, "framegen: SECONDS is 1 to 60\n"); return 2; }
  if (size < 60 || size > 65000 || (gso && size < 1514)) { fprintf(stderr, "framegen: BYTES out of range\n"); return 2; }
  unsigned char dmac[6];
  if (sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1], &dmac[2], &dmac[3], &dmac[4], &dmac[5]) != 6) {
    fprintf(stderr, "framegen: bad MAC %s\n", argv[2]);
    return 2;
  }
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) { perror("framegen: socket"); return 1; }
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) { perror("framegen: PACKET_VNET_HDR"); return 1; }
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = if_nametoindex(argv[1]);
  if (!sll.sll_ifindex) { fprintf(stderr, "framegen: no interface %s\n", argv[1]); return 1; }
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { perror("framegen: bind"); return 1; }

  unsigned char *f = calloc(1, size);
  static const unsigned char src[6] = {0x02, 0, 0, 0, 0xbe, 0xee};
  memcpy(f, dmac, 6); memcpy(f + 6, src, 6);
  struct virtio_net_hdr h = {0};
  if (gso) {
    // The ring generator's frame: 198.18.70.1:40000 → 198.18.70.2:5201, DF, TTL 64, ACK.
    static const unsigned char hdr[] = {0x08, 0x00, 0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 70, 1, 198, 18, 70, 2,
                                        0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0};
    memcpy(f + 12, hdr, sizeof hdr);
    int ipLen = size - 14;
    f[16] = ipLen >> 8; f[17] = ipLen & 0xff;
    unsigned sum = 0;
    for (int i = 14; i < 34; i += 2) sum += f[i] << 8 | f[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    f[24] = (~sum >> 8) & 0xff; f[25] = ~sum & 0xff;
    memset(f + 54, 0x5a, size - 54);
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    h.hdr_len = 54;
    h.gso_size = 1448;
    h.csum_start = 34;
    h.csum_offset = 16;
  } else {
    f[12] = 0x88; f[13] = 0xb5;
    memset(f + 14, 0x5a, size - 14);
  }
  int batch = gso ? 8 : 64;
  struct iovec iov[2] = {{&h, sizeof h}, {f, size}};
  struct mmsghdr *m = calloc(batch, sizeof *m);
  for (int i = 0; i < batch; i++) { m[i].msg_hdr.msg_iov = iov; m[i].msg_hdr.msg_iovlen = 2; }
  unsigned long long sent = 0, fails = 0;
  double t0 = now(), t;
  while ((t = now()) - t0 < dur) {
    for (int k = 0; k < 16; k++) {
      int n = sendmmsg(fd, m, batch, MSG_DONTWAIT);
      if (n > 0) sent += n; else fails++;
    }
  }
  double s = t - t0;
  printf("sent %llu frames of %d bytes in %.2f s = %.0f fps, %.2f Gbit/s (sendmmsg refusals %llu)\n",
         sent, size, s, sent / s, sent * (double)size * 8 / s / 1e9, fails);
  return 0;
}
