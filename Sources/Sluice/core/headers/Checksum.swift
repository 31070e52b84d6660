/// The Internet checksum (RFC 1071) and the completion of CHECKSUM_PARTIAL packets.
public enum Checksum {
    /// One's-complement sum of `count` bytes at `p` (not folded, not inverted).
    public static func sum(_ p: UnsafeRawPointer, _ count: Int, initial: UInt64 = 0) -> UInt64 {
        var acc = initial
        var i = 0
        while i + 8 <= count {
            let w = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let (s, o) = acc.addingReportingOverflow(w)
            acc = s &+ (o ? 1 : 0)
            i += 8
        }
        // Remaining bytes in network order, as 16-bit words.
        var tail: UInt64 = 0
        while i + 2 <= count {
            tail &+= UInt64(p.loadUnaligned(fromByteOffset: i, as: UInt16.self))
            i += 2
        }
        if i < count { tail &+= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) }
        let (s, o) = acc.addingReportingOverflow(tail)
        return s &+ (o ? 1 : 0)
    }

    /// Folds a sum to 16 bits, inverts it, and returns it in network byte order as a value.
    public static func fold(_ s: UInt64) -> UInt16 {
        var x = (s & 0xFFFF_FFFF) &+ (s >> 32)
        x = (x & 0xFFFF_FFFF) &+ (x >> 32)
        var y = (x & 0xFFFF) &+ (x >> 16)
        y = (y & 0xFFFF) &+ (y >> 16)
        y = (y & 0xFFFF) &+ (y >> 16)
        // The sum was taken over little-endian loads of big-endian words: swap back.
        return UInt16(truncatingIfNeeded: ~y).byteSwapped
    }

    /// Completes a CHECKSUM_PARTIAL packet: the sum from `start` to the end is stored at
    /// `start + offset` (the pseudo-header sum is already there, as the sender leaves it).
    public static func complete(frame: UnsafeMutableRawPointer, length: Int, start: Int, offset: Int) -> Bool {
        guard start >= 0, start + offset + 2 <= length else { return false }
        var v = fold(sum(UnsafeRawPointer(frame + start), length - start))
        if v == 0 && offset == UDPHeader.checksumOffset { v = 0xFFFF }
        frame.storeBytes(of: v.bigEndian, toByteOffset: start + offset, as: UInt16.self)
        return true
    }
}
