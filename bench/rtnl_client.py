#!/usr/bin/env python3
"""A minimal rtnetlink client for the daemon's control socket, for bench/control.sh.

The requests are the bytes Debian's tc and bridge send the kernel (captured with strace on
this machine class), with the sequence number, device index and address patched in.

  rtnl_client.py SOCKET latency IDLE_PORT N          link set mtu round trips: p50/p99 in µs
  rtnl_client.py SOCKET fill IDLE_PORT N             N static FDB entries: entries/s
  rtnl_client.py SOCKET dump DAEMON_PID              AF_BRIDGE dump: entries, entries/s, RSS
  rtnl_client.py SOCKET storm IDLE_PORT TRAFFIC_PORT N DAEMON_PID
                                                     N changes (tbf rate, u32 filter add/del,
                                                     FDB add/del) and one full FDB dump
"""
import os, socket, struct, sys, threading, time

NLMSG_ERROR, NLMSG_DONE, NLMSG_NOOP = 2, 3, 1
F_REQUEST, F_ACK, F_DUMP = 1, 4, 0x300

TBF_50 = bytes.fromhex(open(os.path.join(os.path.dirname(__file__), "rtnl_tbf50.hex")).read().strip())
TBF_40 = bytes.fromhex(open(os.path.join(os.path.dirname(__file__), "rtnl_tbf40.hex")).read().strip())
# tc filter add dev D parent ffff: protocol ip prio 7 u32 match ip dst 198.18.0.9/32 flowid 1:1
FILTER_ADD = bytes.fromhex("5c0000002c000506eaac0d6b000000000000000003000000000000000000ffff0800070008000100753332003000020008000100010001002400050001000100000000000000000000000000ffffffffc61200091000000000000000")
# tc filter del dev D parent ffff: prio 7
FILTER_DEL = bytes.fromhex("240000002d000500eaac0d6b000000000000000003000000000000000000ffff00000700")
# bridge fdb add 02:00:00:00:00:05 dev D master static / bridge fdb del … master
FDB_ADD = bytes.fromhex("280000001c000506ebac0d6b000000000700000003000000420004000a0002000200000000050000")
FDB_DEL = bytes.fromhex("280000001d000500ebac0d6b000000000700000003000000c00004000a0002000200000000050000")


class Client:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.connect(path)
        self.s.recv(65536)          # the daemon's greeting (NLMSG_NOOP with our port id)
        self.seq = 1

    def patch(self, msg, ifindex=None, mac=None):
        m = bytearray(msg)
        self.seq += 1
        struct.pack_into("<I", m, 8, self.seq)
        if ifindex is not None:
            struct.pack_into("<I", m, 20, ifindex)
        if mac is not None:
            m[32:38] = mac
        return bytes(m)

    def acks(self, n):
        """Reads until n acknowledgements arrived; returns the errnos that were not 0."""
        errors = []
        while n > 0:
            data = self.s.recv(65536)
            off = 0
            while off + 16 <= len(data):
                ln, typ = struct.unpack_from("<IH", data, off)
                if ln < 16:
                    break
                if typ == NLMSG_ERROR:
                    e = struct.unpack_from("<i", data, off + 16)[0]
                    if e != 0:
                        errors.append(-e)
                    n -= 1
                off += (ln + 3) & ~3
        return errors

    def call(self, msg):
        self.s.send(msg)
        return self.acks(1)

    def ifindex(self, name):
        nm = name.encode() + b"\0"
        attr = struct.pack("<HH", 4 + len(nm), 3) + nm
        attr += b"\0" * ((4 - len(attr) % 4) % 4)
        body = struct.pack("<BBHiII", 0, 0, 0, 0, 0, 0) + attr
        self.seq += 1
        self.s.send(struct.pack("<IHHII", 16 + len(body), 18, F_REQUEST, self.seq, 0) + body)
        data = self.s.recv(65536)
        typ = struct.unpack_from("<H", data, 4)[0]
        if typ != 16:
            sys.exit(f"rtnl_client: no device {name}")
        return struct.unpack_from("<i", data, 20)[0]

    def setlink_mtu(self, ifindex, mtu):
        body = struct.pack("<BBHiII", 0, 0, 0, ifindex, 0, 0) + struct.pack("<HHI", 8, 4, mtu)
        self.seq += 1
        return self.call(struct.pack("<IHHII", 16 + len(body), 19, F_REQUEST | F_ACK, self.seq, 0) + body)

    def dump_fdb(self):
        body = struct.pack("<BBHiII", 7, 0, 0, 0, 0, 0)
        self.seq += 1
        self.s.send(struct.pack("<IHHII", 16 + len(body), 30, F_REQUEST | F_DUMP, self.seq, 0) + body)
        entries = 0
        while True:
            data = self.s.recv(32768)
            off = 0
            while off + 16 <= len(data):
                ln, typ = struct.unpack_from("<IH", data, off)
                if typ == NLMSG_DONE:
                    return entries
                if typ == NLMSG_ERROR:
                    sys.exit("rtnl_client: dump failed")
                entries += 1
                off += (ln + 3) & ~3


def mac_of(i):
    return bytes([0x02, 0x10]) + struct.pack(">I", i)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main():
    path, cmd = sys.argv[1], sys.argv[2]
    c = Client(path)
    if cmd == "latency":
        idx, n = c.ifindex(sys.argv[3]), int(sys.argv[4])
        rtts = []
        for i in range(n):
            t = time.perf_counter_ns()
            err = c.setlink_mtu(idx, 1400 if i % 2 == 0 else 1500)
            rtts.append((time.perf_counter_ns() - t) / 1000)
            if err:
                sys.exit(f"rtnl_client: link set failed: errno {err}")
        print(f"link_set_rtt_us p50={pct(rtts, 0.5):.1f} p99={pct(rtts, 0.99):.1f} n={n}")
    elif cmd == "fill":
        idx, n = c.ifindex(sys.argv[3]), int(sys.argv[4])
        t = time.perf_counter()
        batch = 64
        for start in range(0, n, batch):
            k = min(batch, n - start)
            c.s.send(b"".join(c.patch(FDB_ADD, idx, mac_of(start + j)) for j in range(k)))
            errs = c.acks(k)
            if errs:
                sys.exit(f"rtnl_client: fdb add failed: errno {errs[0]}")
        dt = time.perf_counter() - t
        print(f"fdb_fill entries={n} seconds={dt:.2f} entries_per_s={n / dt:.0f}")
    elif cmd == "dump":
        pid = int(sys.argv[3])
        before = rss_kib(pid)
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(pid))
                time.sleep(0.002)
        th = threading.Thread(target=sample)
        th.start()
        t = time.perf_counter()
        n = c.dump_fdb()
        dt = time.perf_counter() - t
        done.set()
        th.join()
        print(f"fdb_dump entries={n} seconds={dt:.3f} entries_per_s={n / dt:.0f} rss_before_mib={before / 1024:.1f} rss_peak_mib={peak[0] / 1024:.1f}")
    elif cmd == "storm":
        idle, traffic, n = c.ifindex(sys.argv[3]), c.ifindex(sys.argv[4]), int(sys.argv[5])
        t = time.perf_counter()
        done = 0
        dumped = 0
        while done < n:
            for msg in (c.patch(TBF_40, idle), c.patch(TBF_50, idle), c.patch(FILTER_ADD, traffic), c.patch(FILTER_DEL, traffic),
                        c.patch(FDB_ADD, idle, mac_of(0x7000_0000 + done)), c.patch(FDB_DEL, idle, mac_of(0x7000_0000 + done))):
                errs = c.call(msg)
                if errs:
                    sys.exit(f"rtnl_client: change failed: errno {errs[0]}")
                done += 1
            if done >= n // 2 and not dumped:
                dumped = c.dump_fdb()
        dt = time.perf_counter() - t
        print(f"storm changes={done} seconds={dt:.2f} changes_per_s={done / dt:.0f} dumped_entries={dumped}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
