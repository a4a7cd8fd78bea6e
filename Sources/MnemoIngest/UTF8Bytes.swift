/// Byte-level helpers shared by the readers, the sentence splitter and the chunker. Everything works
/// on UTF-8 offsets, never by walking `String.Index` repeatedly, so long lines stay linear.
enum UTF8Bytes {
    enum Problem: Equatable {
        case nul(offset: Int)
        case invalid(offset: Int)
    }

    /// The first NUL byte or malformed UTF-8 sequence. Rejects what Swift's decoder would repair:
    /// overlong forms, surrogates, values past U+10FFFF and truncated sequences.
    static func firstProblem(_ b: UnsafeBufferPointer<UInt8>, from start: Int = 0) -> Problem? {
        var i = start
        let n = b.count
        while i < n {
            let c = b[i]
            if c < 0x80 {
                if c == 0 { return .nul(offset: i) }
                i += 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF
            switch c {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: return .invalid(offset: i)
            }
            if i + length > n { return .invalid(offset: i) }
            let c1 = b[i + 1]
            if c1 < low || c1 > high { return .invalid(offset: i) }
            var k = 2
            while k < length {
                if b[i + k] & 0xC0 != 0x80 { return .invalid(offset: i) }
                k += 1
            }
            i += length
        }
        return nil
    }

    /// Length of the whitespace character at `i`, 0 if there is none: ASCII whitespace, NBSP, NEL,
    /// the U+2000 spaces, line and paragraph separators, narrow and medium spaces, ideographic space.
    @inline(__always)
    static func whitespaceLength(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
        let c = b[i]
        switch c {
        case 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D:
            return 1
        case 0xC2:
            return i + 1 < b.count && (b[i + 1] == 0xA0 || b[i + 1] == 0x85) ? 2 : 0
        case 0xE2:
            guard i + 2 < b.count else { return 0 }
            let c1 = b[i + 1], c2 = b[i + 2]
            if c1 == 0x80 && (c2 <= 0x8A || c2 == 0xA8 || c2 == 0xA9 || c2 == 0xAF) { return 3 }
            if c1 == 0x81 && c2 == 0x9F { return 3 }
            return 0
        case 0xE3:
            return i + 2 < b.count && b[i + 1] == 0x80 && b[i + 2] == 0x80 ? 3 : 0
        default:
            return 0
        }
    }

    /// How many line breaks the whitespace character at `i` (of length `length`) stands for: a form
    /// feed (pdftotext's page break) and U+2029 count as a paragraph break; "\r\n" counts once.
    @inline(__always)
    static func lineBreakWeight(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ length: Int) -> Int {
        switch b[i] {
        case 0x0A, 0x0B: return 1
        case 0x0D: return i + 1 < b.count && b[i + 1] == 0x0A ? 0 : 1
        case 0x0C: return 2
        case 0xC2: return b[i + 1] == 0x85 ? 1 : 0
        case 0xE2 where length == 3 && b[i + 1] == 0x80: return b[i + 2] == 0xA8 ? 1 : (b[i + 2] == 0xA9 ? 2 : 0)
        default: return 0
        }
    }

    @inline(__always)
    static func isASCIIWhitespace(_ c: UInt8) -> Bool {
        c == 0x20 || (c >= 0x09 && c <= 0x0D)
    }

    /// Length of the scalar whose first byte is `c` (1 for stray continuation bytes, so scans always advance).
    @inline(__always)
    static func scalarLength(_ c: UInt8) -> Int {
        if c < 0xC0 { return 1 }
        if c < 0xE0 { return 2 }
        if c < 0xF0 { return 3 }
        return 4
    }

    @inline(__always)
    static func isContinuation(_ c: UInt8) -> Bool { c & 0xC0 == 0x80 }

    /// The scalar starting at `i`, or nil past the end or at a malformed sequence.
    static func scalar(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Unicode.Scalar? {
        guard i < b.count else { return nil }
        let c = b[i]
        let length = scalarLength(c)
        guard i + length <= b.count else { return nil }
        var value: UInt32
        switch length {
        case 1: value = UInt32(c)
        case 2: value = UInt32(c & 0x1F)
        case 3: value = UInt32(c & 0x0F)
        default: value = UInt32(c & 0x07)
        }
        var k = 1
        while k < length {
            value = value << 6 | UInt32(b[i + k] & 0x3F)
            k += 1
        }
        return Unicode.Scalar(value)
    }

    /// Appends a scalar's UTF-8 bytes.
    static func append(_ scalar: Unicode.Scalar, to out: inout [UInt8]) {
        let v = scalar.value
        if v < 0x80 {
            out.append(UInt8(v))
        } else if v < 0x800 {
            out.append(UInt8(0xC0 | v >> 6))
            out.append(UInt8(0x80 | v & 0x3F))
        } else if v < 0x10000 {
            out.append(UInt8(0xE0 | v >> 12))
            out.append(UInt8(0x80 | v >> 6 & 0x3F))
            out.append(UInt8(0x80 | v & 0x3F))
        } else {
            out.append(UInt8(0xF0 | v >> 18))
            out.append(UInt8(0x80 | v >> 12 & 0x3F))
            out.append(UInt8(0x80 | v >> 6 & 0x3F))
            out.append(UInt8(0x80 | v & 0x3F))
        }
    }

    /// A string from a slice of bytes (repairing anything malformed, which validated input never is).
    @inline(__always)
    static func string(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: b[range]), as: UTF8.self)
    }
}
