import Atomics

/// Principles (xen/include/public/io/netif.h, io/ring.h, grant_table.h; drivers/net/xen-netback)
/// ----------
/// The shared-memory ABI between a virtual NIC's frontend (an application, `SluiceFrontend`)
/// and its backend (Sluice's `vif` device), as Xen's netfront and netback share one:
/// - One memfd, owned by the frontend, mapped by both. Page 0 is a header naming the layout;
///   then the tx ring, the rx ring, the grant table and the frontend's data pages.
/// - A ring is Xen's: a 64-byte shared header (request producer, request event, response
///   producer, response event, each a free-running 32-bit index) and a power-of-two number of
///   slots, a request and later its response sharing a slot. Consumer indices are private to
///   each side. Indices wrap; a slot is `index & (size − 1)`.
/// - Notification suppression: after producing up to `new` from `old`, a side notifies only
///   when the other asked for an index in (old, new] (`needsNotify`: RING_PUSH_*_AND_CHECK_NOTIFY).
///   A consumer about to sleep sets its event index to one past what it consumed, then looks
///   again (RING_FINAL_CHECK_FOR_*), so a busy ring costs no wakeups.
/// - A grant (an entry of the grant table) lets the backend touch part of one data page: flags
///   (permit access, read-only, and the backend's busy bits reading/writing), the domain it is
///   granted to (the backend: 0), the page, offset and length. The backend copies through a
///   grant (Xen's grant copy): it marks the entry busy only if it is still granted, copies,
///   and clears the mark; the frontend revokes only an entry that is not busy
///   (gnttab_end_foreign_access_ref's rule), else it stays granted until the backend is done.
/// - Slots: tx requests (gref, offset, flags, id, size: 12 bytes, netif_tx_request) and
///   responses (id, status); rx requests (id, gref: 8 bytes) and responses (id, offset, flags,
///   status = size or an error). A packet larger than a page is a chain of slots flagged
///   `moreData`; the first tx slot's size is the whole packet's, as netif.h says. An extra-info
///   slot (GSO: size, type) follows a first slot flagged `extraInfo`.
/// Everything here is plain loads and stores through raw pointers (atomics for the indices and
/// grant flags); the backend reads each request from shared memory once, into a private copy,
/// before validating it (XSA-155).
public enum VIF {
    public static let pageSize = 4096
    public static let magic: UInt32 = 0x534C_5646          // "SLVF"
    public static let version: UInt32 = 1
    /// The backend's domain id in grant entries.
    public static let backendDomain: UInt16 = 0
    /// XEN_NETBK_LEGACY_SLOTS_MAX: the most slots one packet may take.
    public static let maxSlotsPerPacket = 18
    /// The largest packet (a GSO super-frame).
    public static let maxPacket = 65535

    // Grant entry flags (GTF_*).
    public static let permitAccess: UInt16 = 1 << 0
    public static let readOnly: UInt16 = 1 << 2
    public static let reading: UInt16 = 1 << 3
    public static let writing: UInt16 = 1 << 4

    // Tx request flags (NETTXF_*) and rx response flags (NETRXF_*).
    public static let csumBlank: UInt16 = 1 << 0
    public static let dataValidated: UInt16 = 1 << 1
    public static let moreData: UInt16 = 1 << 2
    public static let extraInfo: UInt16 = 1 << 3
    /// Rx response flags: data validated 1, checksum blank 2, more data 4, extra info 8 (the same
    /// bit as the tx `extraInfo`).
    public static let rxDataValidated: UInt16 = 1 << 0
    public static let rxCsumBlank: UInt16 = 1 << 1
    public static let rxMoreData: UInt16 = 1 << 2

    // Response status (XEN_NETIF_RSP_*).
    public static let statusOkay: Int16 = 0
    public static let statusError: Int16 = -1
    public static let statusDropped: Int16 = -2
    /// XEN_NETIF_RSP_NULL: the response that fills an extra-info slot's place; it names no
    /// request (its id means nothing) and the frontend skips it.
    public static let statusNull: Int16 = 1

    // GSO types in the extra-info slot (XEN_NETIF_GSO_TYPE_*).
    public static let gsoTCPv4: UInt8 = 1
    public static let gsoTCPv6: UInt8 = 2

    // Features negotiated in the handshake (feature-*).
    public static let featureSG: UInt32 = 1 << 0
    public static let featureGSOTCPv4: UInt32 = 1 << 1
    public static let featureGSOTCPv6: UInt32 = 1 << 2
    public static let featureRxCopy: UInt32 = 1 << 3
    public static let featureCsumOffload: UInt32 = 1 << 4

    /// The control message that connects a frontend: private rtnetlink type, payload the
    /// interface name (NUL-padded to 16 bytes) then the layout header's first 48 bytes; the
    /// memfd and the two eventfds (frontend→backend, backend→frontend) ride as SCM_RIGHTS.
    public static let connectMessageType: UInt16 = 0x5A10

    public static let txSlotSize = 12
    public static let rxSlotSize = 8
    public static let ringHeaderSize = 64
    public static let grantEntrySize = 16

    @inlinable public static func isPowerOfTwo(_ n: Int) -> Bool { n > 0 && n & (n - 1) == 0 }

    /// RING_PUSH_*_AND_CHECK_NOTIFY: whether producing from `old` to `new` passed `event`.
    @inlinable public static func needsNotify(new: UInt32, old: UInt32, event: UInt32) -> Bool {
        new &- event < new &- old
    }
}

/// The layout header (page 0 of the shared memory).
public struct VIFLayout: Equatable, Sendable {
    public var ringSlots: Int
    public var grants: Int
    public var dataPages: Int
    public var features: UInt32

    public init(ringSlots: Int, grants: Int, dataPages: Int, features: UInt32) {
        self.ringSlots = ringSlots; self.grants = grants; self.dataPages = dataPages; self.features = features
    }

    @inlinable static func pages(_ bytes: Int) -> Int { (bytes + VIF.pageSize - 1) / VIF.pageSize }
    public var txRingOffset: Int { VIF.pageSize }
    public var rxRingOffset: Int { txRingOffset + Self.pages(VIF.ringHeaderSize + ringSlots * VIF.txSlotSize) * VIF.pageSize }
    public var grantOffset: Int { rxRingOffset + Self.pages(VIF.ringHeaderSize + ringSlots * VIF.rxSlotSize) * VIF.pageSize }
    public var dataOffset: Int { grantOffset + Self.pages(grants * VIF.grantEntrySize) * VIF.pageSize }
    public var totalSize: Int { dataOffset + dataPages * VIF.pageSize }

    /// Writes the header at `p` (page 0).
    public func write(to p: UnsafeMutableRawPointer) {
        let words: [UInt32] = [VIF.magic, VIF.version, UInt32(ringSlots), UInt32(grants), UInt32(dataPages), features,
                               UInt32(txRingOffset), UInt32(rxRingOffset), UInt32(grantOffset), UInt32(dataOffset), UInt32(totalSize), 0]
        for (i, w) in words.enumerated() { p.storeBytes(of: w.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
    }

    public static let headerBytes = 48

    /// Reads and checks a header: the magic, the version, power-of-two ring sizes within
    /// bounds, offsets that agree with the sizes and fit in `mappedSize`.
    public init?(reading p: UnsafeRawPointer, mappedSize: Int) {
        func w(_ i: Int) -> UInt32 { UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
        guard mappedSize >= VIF.pageSize, w(0) == VIF.magic, w(1) == VIF.version else { return nil }
        let slots = Int(w(2)), grants = Int(w(3)), pages = Int(w(4))
        guard VIF.isPowerOfTwo(slots), slots <= 4096, (1...65536).contains(grants), (1...65536).contains(pages) else { return nil }
        self.init(ringSlots: slots, grants: grants, dataPages: pages, features: w(5))
        guard Int(w(6)) == txRingOffset, Int(w(7)) == rxRingOffset, Int(w(8)) == grantOffset, Int(w(9)) == dataOffset,
              Int(w(10)) == totalSize, totalSize <= mappedSize else { return nil }
    }
}

/// A ring's shared header: the four free-running indices, as atomics on the shared page. All
/// four are sequentially consistent: a producer's store of its index must not pass its load of
/// the other side's event index (io/ring.h's xen_mb() in RING_PUSH_*_AND_CHECK_NOTIFY), nor a
/// consumer's store of its event index its load of the producer index (RING_FINAL_CHECK);
/// otherwise each side can miss the other and both sleep.
public struct VIFRingHeader {
    public let base: UnsafeMutableRawPointer
    @inlinable public init(_ base: UnsafeMutableRawPointer) { self.base = base }
    @inlinable func index(_ at: Int) -> UnsafeAtomic<UInt32> {
        UnsafeAtomic(at: (base + at).assumingMemoryBound(to: UInt32.AtomicRepresentation.self))
    }
    @inlinable public var reqProd: UInt32 {
        get { index(0).load(ordering: .sequentiallyConsistent) }
        nonmutating set { index(0).store(newValue, ordering: .sequentiallyConsistent) }
    }
    @inlinable public var reqEvent: UInt32 {
        get { index(4).load(ordering: .sequentiallyConsistent) }
        nonmutating set { index(4).store(newValue, ordering: .sequentiallyConsistent) }
    }
    @inlinable public var rspProd: UInt32 {
        get { index(8).load(ordering: .sequentiallyConsistent) }
        nonmutating set { index(8).store(newValue, ordering: .sequentiallyConsistent) }
    }
    @inlinable public var rspEvent: UInt32 {
        get { index(12).load(ordering: .sequentiallyConsistent) }
        nonmutating set { index(12).store(newValue, ordering: .sequentiallyConsistent) }
    }
}

/// netif_tx_request, as copied out of a slot.
public struct VIFTxRequest: Equatable, Sendable {
    public var gref: UInt32, offset: UInt16, flags: UInt16, id: UInt16, size: UInt16
    public init(gref: UInt32, offset: UInt16, flags: UInt16, id: UInt16, size: UInt16) {
        self.gref = gref; self.offset = offset; self.flags = flags; self.id = id; self.size = size
    }
    @inlinable public init(at p: UnsafeRawPointer) {
        gref = p.loadUnaligned(as: UInt32.self)
        offset = p.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
        flags = p.loadUnaligned(fromByteOffset: 6, as: UInt16.self)
        id = p.loadUnaligned(fromByteOffset: 8, as: UInt16.self)
        size = p.loadUnaligned(fromByteOffset: 10, as: UInt16.self)
    }
    @inlinable public func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: gref, as: UInt32.self)
        p.storeBytes(of: offset, toByteOffset: 4, as: UInt16.self)
        p.storeBytes(of: flags, toByteOffset: 6, as: UInt16.self)
        p.storeBytes(of: id, toByteOffset: 8, as: UInt16.self)
        p.storeBytes(of: size, toByteOffset: 10, as: UInt16.self)
    }
}

/// netif_tx_response: the request's id and a status.
public struct VIFTxResponse: Equatable, Sendable {
    public var id: UInt16, status: Int16
    @inlinable public init(id: UInt16, status: Int16) { self.id = id; self.status = status }
    @inlinable public init(at p: UnsafeRawPointer) {
        id = p.loadUnaligned(as: UInt16.self)
        status = p.loadUnaligned(fromByteOffset: 2, as: Int16.self)
    }
    @inlinable public func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: id, as: UInt16.self)
        p.storeBytes(of: status, toByteOffset: 2, as: Int16.self)
    }
}

/// netif_rx_request: an id and the grant of a page to fill.
public struct VIFRxRequest: Equatable, Sendable {
    public var id: UInt16, gref: UInt32
    @inlinable public init(id: UInt16, gref: UInt32) { self.id = id; self.gref = gref }
    @inlinable public init(at p: UnsafeRawPointer) {
        id = p.loadUnaligned(as: UInt16.self)
        gref = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
    }
    @inlinable public func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: id, as: UInt16.self)
        p.storeBytes(of: UInt16(0), toByteOffset: 2, as: UInt16.self)
        p.storeBytes(of: gref, toByteOffset: 4, as: UInt32.self)
    }
}

/// netif_rx_response: id, offset of the data in the page, flags, and status (the size, or an
/// error when negative).
public struct VIFRxResponse: Equatable, Sendable {
    public var id: UInt16, offset: UInt16, flags: UInt16, status: Int16
    @inlinable public init(id: UInt16, offset: UInt16, flags: UInt16, status: Int16) {
        self.id = id; self.offset = offset; self.flags = flags; self.status = status
    }
    @inlinable public init(at p: UnsafeRawPointer) {
        id = p.loadUnaligned(as: UInt16.self)
        offset = p.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
        flags = p.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
        status = p.loadUnaligned(fromByteOffset: 6, as: Int16.self)
    }
    @inlinable public func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: id, as: UInt16.self)
        p.storeBytes(of: offset, toByteOffset: 2, as: UInt16.self)
        p.storeBytes(of: flags, toByteOffset: 4, as: UInt16.self)
        p.storeBytes(of: status, toByteOffset: 6, as: Int16.self)
    }
}

/// The GSO extra-info slot (netif_extra_info, type GSO): type 1, flags, size, GSO type.
public struct VIFExtraGSO: Equatable, Sendable {
    public var size: UInt16, type: UInt8
    public init(size: UInt16, type: UInt8) { self.size = size; self.type = type }
    @inlinable public init?(at p: UnsafeRawPointer) {
        guard p.load(as: UInt8.self) == 1 else { return nil }
        size = p.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
        type = p.load(fromByteOffset: 4, as: UInt8.self)
    }
    @inlinable public func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: UInt8(1), as: UInt8.self)
        p.storeBytes(of: UInt8(0), toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: size, toByteOffset: 2, as: UInt16.self)
        p.storeBytes(of: type, toByteOffset: 4, as: UInt8.self)
        p.storeBytes(of: UInt8(0), toByteOffset: 5, as: UInt8.self)
        p.storeBytes(of: UInt16(0), toByteOffset: 6, as: UInt16.self)
    }
}

/// A grant table in shared memory: 16-byte entries of flags (u16), domain (u16), page (u32),
/// offset (u16), reserved (u16) and length (u32).
public struct VIFGrantTable {
    public let base: UnsafeMutableRawPointer
    public let count: Int
    @inlinable public init(_ base: UnsafeMutableRawPointer, count: Int) { self.base = base; self.count = count }

    @inlinable func flagsAtomic(_ ref: Int) -> UnsafeAtomic<UInt16> {
        UnsafeAtomic(at: (base + ref * VIF.grantEntrySize).assumingMemoryBound(to: UInt16.AtomicRepresentation.self))
    }
    @inlinable public func flags(_ ref: Int) -> UInt16 { flagsAtomic(ref).load(ordering: .acquiring) }

    /// The frontend grants `page[offset, offset+length)` to the backend (read-only or writable).
    public func grant(_ ref: Int, page: Int, offset: Int, length: Int, readOnly: Bool) {
        let e = base + ref * VIF.grantEntrySize
        e.storeBytes(of: VIF.backendDomain, toByteOffset: 2, as: UInt16.self)
        e.storeBytes(of: UInt32(page), toByteOffset: 4, as: UInt32.self)
        e.storeBytes(of: UInt16(offset), toByteOffset: 8, as: UInt16.self)
        e.storeBytes(of: UInt16(0), toByteOffset: 10, as: UInt16.self)
        e.storeBytes(of: UInt32(length), toByteOffset: 12, as: UInt32.self)
        flagsAtomic(ref).store(VIF.permitAccess | (readOnly ? VIF.readOnly : 0), ordering: .releasing)
    }

    /// gnttab_end_foreign_access_ref: revokes the grant unless the backend is using it; false
    /// (still granted, busy) when it is.
    public func revoke(_ ref: Int) -> Bool {
        let a = flagsAtomic(ref)
        var f = a.load(ordering: .acquiring)
        while true {
            if f & (VIF.reading | VIF.writing) != 0 { return false }
            let (done, now) = a.weakCompareExchange(expected: f, desired: 0, ordering: .acquiringAndReleasing)
            if done { return true }
            f = now
        }
    }

    /// What a valid grant lets the backend touch.
    public struct Access: Equatable {
        public var page: Int; public var offset: Int; public var length: Int
        @inlinable public init(page: Int, offset: Int, length: Int) { self.page = page; self.offset = offset; self.length = length }
    }
    public enum Refusal: Error, Equatable { case badRef, notGranted, readOnly }

    /// The backend begins using `ref` (reading, or writing when `write`): marks it busy if it is
    /// granted to the backend with that access, and returns what it covers (read once).
    @inlinable public func begin(_ ref: UInt32, write: Bool, dataPages: Int) -> Result<Access, Refusal> {
        guard Int(ref) < count else { return .failure(.badRef) }
        let r = Int(ref)
        let a = flagsAtomic(r)
        let busy = write ? VIF.writing : VIF.reading
        var f = a.load(ordering: .acquiring)
        while true {
            guard f & VIF.permitAccess != 0 else { return .failure(.notGranted) }
            if write && f & VIF.readOnly != 0 { return .failure(.readOnly) }
            let (done, now) = a.weakCompareExchange(expected: f, desired: f | busy, ordering: .acquiringAndReleasing)
            if done { break }
            f = now
        }
        let e = base + r * VIF.grantEntrySize
        let dom = e.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
        let page = Int(e.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let off = Int(e.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
        let len = Int(e.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        guard dom == VIF.backendDomain, page < dataPages, off + len <= VIF.pageSize else {
            end(ref, write: write)
            return .failure(.notGranted)
        }
        return .success(Access(page: page, offset: off, length: len))
    }

    /// The backend is done with `ref`.
    @inlinable public func end(_ ref: UInt32, write: Bool) {
        _ = flagsAtomic(Int(ref)).loadThenBitwiseAnd(with: ~(write ? VIF.writing : VIF.reading), ordering: .releasing)
    }
}
