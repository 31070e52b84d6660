import CSluiceLinux
#if canImport(Glibc)
import Glibc
#endif

/// Principles
/// ----------
/// The datapath worker gets a CPU of its own; every other thread of the daemon (the control
/// thread, helpers) runs on the housekeeping CPUs: the CPUs this process may use, minus the
/// isolated ones (/sys/devices/system/cpu/isolated, `isolcpus=`), minus the datapath's.
/// Without `--cpus`, the worker takes the first isolated CPU the process may use, else the
/// last allowed CPU. With one CPU in all, both share it (said in the log).
public struct CPUPlan: Sendable, Equatable {
    public var datapath: Int
    public var housekeeping: [Int]

    /// Parses a CPU list as the kernel writes them: "0-3,8,10-11".
    public static func parseList(_ s: String) throws(SluiceError) -> [Int] {
        var out: [Int] = []
        let t = s.trimmingCharacters(in: " \n\t")
        if t.isEmpty { return [] }
        for part in t.split(separator: ",", omittingEmptySubsequences: false) {
            let r = part.split(separator: "-", omittingEmptySubsequences: false)
            guard r.count == 1 || r.count == 2, let a = Int(r[0]), a >= 0, a < 4096 else {
                throw SluiceError("invalid CPU list \"\(s)\"")
            }
            let b = r.count == 2 ? Int(r[1]) : a
            guard let b, b >= a, b < 4096 else { throw SluiceError("invalid CPU list \"\(s)\"") }
            out.append(contentsOf: a...b)
        }
        return Array(Set(out)).sorted()
    }

    /// Decides the plan from what the process may use, what is isolated, and `--cpus`.
    public static func make(allowed: [Int], isolated: [Int], requested: [Int]?) throws(SluiceError) -> CPUPlan {
        guard !allowed.isEmpty else { throw SluiceError("no CPU available to this process") }
        let dp: Int
        if let requested, !requested.isEmpty {
            // An isolated CPU is fine for the datapath even when the affinity mask excludes it?
            // No: sched_setaffinity would fail. Require it to be allowed or isolated-and-online.
            guard let c = requested.first(where: { allowed.contains($0) || isolated.contains($0) }) else {
                throw SluiceError("--cpus \(requested.map(String.init).joined(separator: ",")): none of these CPUs is available (allowed: \(allowed.map(String.init).joined(separator: ",")))")
            }
            dp = c
        } else if let iso = isolated.first(where: { allowed.contains($0) }) {
            dp = iso
        } else {
            dp = allowed.last!
        }
        var hk = allowed.filter { !isolated.contains($0) && $0 != dp }
        if hk.isEmpty { hk = allowed.filter { $0 != dp } }
        if hk.isEmpty { hk = [dp] }
        return CPUPlan(datapath: dp, housekeeping: hk)
    }

    /// The current process's view: allowed CPUs and isolated CPUs.
    public static func current(requested: [Int]?) throws(SluiceError) -> CPUPlan {
        try make(allowed: allowedCPUs(), isolated: isolatedCPUs(), requested: requested)
    }

    public static func allowedCPUs() -> [Int] {
        var mask = [UInt64](repeating: 0, count: 16)
        guard csl_get_affinity(&mask, 16) > 0 else { return [0] }
        var out: [Int] = []
        for w in 0..<16 { for b in 0..<64 where mask[w] & (1 << UInt64(b)) != 0 { out.append(w * 64 + b) } }
        return out
    }

    public static func isolatedCPUs() -> [Int] {
        (try? parseList(readFile("/sys/devices/system/cpu/isolated") ?? "")) ?? []
    }

    /// Pins the calling thread to `cpus`.
    public static func pinCurrentThread(_ cpus: [Int]) throws(SluiceError) {
        var mask = [UInt64](repeating: 0, count: 16)
        for c in cpus where c < 1024 { mask[c / 64] |= 1 << UInt64(c % 64) }
        guard csl_pin_self(mask, 16) == 0 else { throw SluiceError("cannot pin thread to CPUs \(cpus): \(errnoString())") }
    }

    public static func currentThreadAffinity() -> [Int] { allowedCPUs() }
}

/// Reads a small text file (sysfs, procfs, configs).
public func readFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, 65536) }
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s.removeFirst() }
        while let l = s.last, chars.contains(l) { s.removeLast() }
        return String(s)
    }
}
