#!/usr/bin/env python3
"""Runs the kernel's own tc tests (tools/testing/selftests/tc-testing, tdc.py's JSON cases)
against Sluice: each case gets a fresh daemon in a network namespace of its own, with the
devices tdc's nsPlugin makes (veth v0p1/v0p0, dummy1; v0p2 a dummy, eth0 a dummy with N queues
where a case asks netdevsim for one), and Debian's tc and ip reach it through `sluice exec`.
Setup, command, exit status, verify pattern (or JSON) and teardown are checked as tdc.py
checks them; the daemon must stop cleanly with no buffer leaked.

  sudo TDC=/path/to/tc-testing scripts/tdc.py /path/to/tc-testing/tc-tests/qdiscs/*.json

The cases come with the kernel's source (Debian: `apt-get download linux-source-6.12`, then
tools/testing/selftests/tc-testing inside its tarball). Cases needing plugins other than
nsPlugin (scapy, eBPF builds) are skipped and counted. SLUICE names the binary (default:
.build/debug/sluice). The last line is `RESULT passed/run passed, N skipped`.
"""
import json, os, re, shutil, subprocess, sys, time, signal

SLUICE = os.environ.get("SLUICE", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "debug", "sluice"))
TDC = os.environ.get("TDC", "")
NS = "tdcr%d" % os.getpid()
D = "/tmp/sluice-tdc-%d" % os.getpid()
os.makedirs(D + "/bin", exist_ok=True)
SOCK = D + "/s.sock"
for tool in ("tc", "ip", "bridge"):
    with open(f"{D}/bin/{tool}", "w") as f:
        f.write(f"#!/bin/sh\nexec timeout 900 {SLUICE} exec --socket {SOCK} {tool} \"$@\"\n")
    os.chmod(f"{D}/bin/{tool}", 0o755)
NAMES = {"TC": D + "/bin/tc", "IP": D + "/bin/ip", "DEV0": "v0p0", "DEV1": "v0p1", "DEV2": "v0p2",
         "DUMMY": "dummy1", "ETH": "eth0", "BATCH_FILE": D + "/batch.txt", "BATCH_DIR": D + "/batchdir", "NS": NS, "EBPFDIR": TDC}

def subst(cmd):
    m = re.match(r'echo "1 1 ?(\d*)" > /sys/bus/netdevsim/new_device', cmd)
    if m:
        n = m.group(1) or "1"
        cmd = f"$IP link add $ETH numtxqueues {n} numrxqueues {n} type dummy && $IP link set $ETH up"
    if "/sys/bus/netdevsim/del_device" in cmd: cmd = "$IP link del $ETH"
    for k in sorted(NAMES, key=len, reverse=True):
        cmd = cmd.replace("$" + k, NAMES[k])
    return cmd

def sh(cmd, t=600):
    try:
        p = subprocess.run(cmd, shell=True, cwd=TDC, capture_output=True, text=True, timeout=t)
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired:
        return -999, "TIMEOUT"

daemon = None
def start(prep=True):
    global daemon
    if os.path.exists(SOCK): os.unlink(SOCK)
    cfg = D + "/cfg"
    open(cfg, "w").write("")
    daemon = subprocess.Popen(["ip", "netns", "exec", NS, SLUICE, "daemon", "--config", cfg, "--socket", SOCK],
                              stdout=open(D + "/d.out", "w"), stderr=open(D + "/d.err", "w"))
    for _ in range(200):
        if "sluice: ready" in open(D + "/d.err").read(): break
        time.sleep(0.05)
    # nsPlugin's devices (the ones tdc is given for the rest).
    for c in [] if not prep else ["$IP link add $DEV1 type veth peer name $DEV0", "$IP link add $DUMMY type dummy", "$IP link add $DEV2 type dummy", "$IP link set $DEV2 up",
              "$IP link set $DEV1 up", "$IP link set $DUMMY up", "$IP link set $DEV0 up"]:
        rc, out = sh(subst(c))
        if rc: print("prep failed", c, out)

def stop():
    daemon.send_signal(signal.SIGTERM)
    try: daemon.wait(10)
    except subprocess.TimeoutExpired:
        daemon.kill(); daemon.wait(); print("DAEMON KILL")
    out = open(D + "/d.out").read()
    if daemon.returncode != 0 or "(no buffer leaked)" not in out:
        print("  daemon rc", daemon.returncode, out[-300:], open(D + "/d.err").read()[-500:])

def steps(lst):
    for s in lst or []:
        if isinstance(s, list): yield s[0], s[1:]
        else: yield s, [0]

def run_case(t):
    fails = []
    for cmd, ok in steps(t.get("setup")):
        rc, out = sh(subst(cmd))
        if rc not in ok: fails.append(f"setup `{cmd}` rc={rc} {out.strip()[:200]}")
    rc, out = sh(subst(t["cmdUnderTest"]))
    exp = int(t.get("expExitCode", "0"))
    if rc != exp: fails.append(f"cmd `{t['cmdUnderTest']}` rc={rc} want {exp}: {out.strip()[:300]}")
    vrc, vout = sh(subst(t.get("verifyCmd", "true")))
    if "matchPattern" in t:
        n = len(re.compile(t["matchPattern"], re.DOTALL | re.MULTILINE).findall(vout))
        want = int(t.get("matchCount", 1))
        if n != want: fails.append(f"verify `{t.get('verifyCmd')}` {n} matches of /{t['matchPattern']}/ want {want}:\n{vout.strip()[:1200]}")
    if "matchJSON" in t:
        try:
            got = json.loads(vout)
            def sub(w, g):
                if isinstance(w, dict):
                    return isinstance(g, dict) and all(k in g and sub(v, g[k]) for k, v in w.items())
                if isinstance(w, list):
                    return isinstance(g, list) and len(w) <= len(g) and all(sub(a, b) for a, b in zip(w, g))
                return w == g
            if not sub(t["matchJSON"], got): fails.append(f"json mismatch: want {json.dumps(t['matchJSON'])[:500]}\n got {vout.strip()[:800]}")
        except Exception as e:
            fails.append(f"json: {e}: {vout.strip()[:400]}")
    for cmd, ok in steps(t.get("teardown")):
        rc, out = sh(subst(cmd))
        if rc not in ok: fails.append(f"teardown `{cmd}` rc={rc} {out.strip()[:200]}")
    return fails

def main():
    files = sys.argv[1:]
    if not files or not TDC:
        sys.exit("usage: TDC=/path/to/tc-testing scripts/tdc.py CASES.json...")
    subprocess.run(["ip", "netns", "add", NS])
    tot = passed = skipped = 0
    try:
        for f in files:
            for t in json.load(open(f)):
                req = t.get("plugins", {}).get("requires", [])
                if isinstance(req, str): req = [req]
                if t.get("skip") == "yes" or any(r not in ("nsPlugin",) for r in req):
                    skipped += 1; continue
                tot += 1
                # Without nsPlugin tdc makes no devices; the cases that make $DUMMY themselves
                # (teql.json) need it absent, the others ($DEV2 in flower.json) need them.
                makes = any("link add dev $DUMMY" in str(c) or "link add $DUMMY" in str(c) for c in t.get("setup") or [])
                start(prep="nsPlugin" in req or not makes)
                try: fails = run_case(t)
                finally: stop()
                if fails:
                    print(f"FAIL {os.path.basename(f)} {t['id']} {t['name']}")
                    for x in fails: print("   ", x.replace("\n", "\n    "))
                else: passed += 1
    finally:
        subprocess.run(["ip", "netns", "del", NS])
        shutil.rmtree(D, ignore_errors=True)
    print(f"RESULT {passed}/{tot} passed, {skipped} skipped")

main()
