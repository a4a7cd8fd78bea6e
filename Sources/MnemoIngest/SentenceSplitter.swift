/// Rule-based sentence boundaries.
///
/// A sentence ends after `.` `!` `?` `…` (and runs of them, plus closing quotes and brackets) when
/// whitespace or the end follows; after the CJK `。` `！` `？` `｡` directly; and at every blank line
/// (paragraph break, form feed). A single line break also ends a sentence before or after a markdown
/// heading, and before a list item ("- ", "* ", "+ ", "• ", "1. ", "1) "), since those rarely end
/// with punctuation. A period does not end a sentence after common abbreviations (e.g., i.e., Mr.,
/// Dr., St., vs., U.S., Fig. …), after "No." before a number, after a single letter (initials:
/// "J. R. R. Tolkien"), after a short number opening a line (a list marker), or inside a number
/// (3.14). "etc.", "Inc.", "a.m." and dotted acronyms end one only when a capital letter follows.
/// An ellipsis or a closing quote followed by a lower-case word ("Well..." he said) does not.
public enum SentenceSplitter {
    /// Sentence ranges in `text`, in order, each trimmed of surrounding whitespace and never empty;
    /// what lies between them is whitespace only. Boundaries fall on Unicode scalar boundaries.
    public static func split(_ text: String) -> [Range<String.Index>] {
        let offsets = text.utf8.withContiguousStorageIfAvailable { splitUTF8($0) }
            ?? Array(text.utf8).withUnsafeBufferPointer { splitUTF8($0) }
        // Walk the index forward once, so that the conversion is linear in the text.
        let utf8 = text.utf8
        var index = utf8.startIndex
        var position = 0
        var result: [Range<String.Index>] = []
        result.reserveCapacity(offsets.count)
        for range in offsets {
            index = utf8.index(index, offsetBy: range.lowerBound - position)
            let lower = index
            index = utf8.index(index, offsetBy: range.upperBound - range.lowerBound)
            position = range.upperBound
            result.append(lower..<index)
        }
        return result
    }

    /// The same boundaries as UTF-8 byte offsets into `text`.
    public static func byteRanges(_ text: String) -> [Range<Int>] {
        text.utf8.withContiguousStorageIfAvailable { splitUTF8($0) } ?? Array(text.utf8).withUnsafeBufferPointer { splitUTF8($0) }
    }

    /// The same boundaries as UTF-8 offsets into `b`; what the chunker uses.
    static func splitUTF8(_ b: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        let n = b.count
        var out: [Range<Int>] = []
        var start = -1  // first byte of the sentence being built, -1 between sentences
        var end = 0  // just past its last non-whitespace byte
        var startIsHeading = false
        var startAtLineStart = false
        var atLineStart = true  // only whitespace since the last line break or the start
        var i = 0
        while i < n {
            let w = UTF8Bytes.whitespaceLength(b, i)
            if w > 0 {
                var j = i
                var breaks = 0
                while j < n {
                    let length = UTF8Bytes.whitespaceLength(b, j)
                    if length == 0 { break }
                    breaks += UTF8Bytes.lineBreakWeight(b, j, length)
                    j += length
                }
                if start >= 0 {
                    if breaks >= 2 || (breaks == 1 && (startIsHeading || (j < n && startsBlockLine(b, j)))) {
                        out.append(start..<end)
                        start = -1
                    }
                }
                if breaks > 0 { atLineStart = true }
                i = j
                continue
            }
            if start < 0 {
                start = i
                startIsHeading = atLineStart && isHeading(b, i)
                startAtLineStart = atLineStart
            }
            atLineStart = false
            // Fast path over bytes that can start neither whitespace nor a terminator (most text).
            var k = i
            while k < n && isPlain(b[k]) { k += 1 }
            if k > i {
                i = k
                end = k
                continue
            }
            let first = terminator(b, i)
            if first.length == 0 {
                i = min(n, i + UTF8Bytes.scalarLength(b[i]))
                end = i
                continue
            }
            // The whole run of terminators ("?!", "...", "。」") is one ending.
            var j = i
            var periods = 0, others = 0
            var ellipsis = false, cjk = false
            while j < n {
                let t = terminator(b, j)
                if t.length == 0 { break }
                switch t.kind {
                case .period: periods += 1
                case .ellipsis: ellipsis = true
                case .cjk: cjk = true
                case .other: others += 1
                }
                j += t.length
            }
            if periods >= 2 { ellipsis = true }
            var closed = false
            while j < n {
                let length = closerLength(b, j)
                if length == 0 { break }
                closed = true
                j += length
            }
            end = j
            let plainPeriod = periods == 1 && others == 0 && !ellipsis && !cjk
            if endsSentence(b, at: i, after: j, plainPeriod: plainPeriod, ellipsis: ellipsis, cjk: cjk,
                            closed: closed, lineStart: startAtLineStart ? start : -1) {
                out.append(start..<end)
                start = -1
            }
            i = j
        }
        if start >= 0 { out.append(start..<end) }
        return out
    }

    /// A byte that starts no whitespace and no terminator: printable ASCII other than ".!?", any
    /// continuation byte, and lead bytes other than those of NBSP/NEL (C2), the U+2000 block (E2),
    /// the CJK punctuation block (E3) and full-width forms (EF). Stopping only at those keeps the
    /// fast path on scalar boundaries.
    @inline(__always)
    static func isPlain(_ c: UInt8) -> Bool {
        if c < 0x80 {
            return c > 0x20 && c != UInt8(ascii: ".") && c != UInt8(ascii: "!") && c != UInt8(ascii: "?") && c != 0x7F
        }
        return c != 0xC2 && c != 0xE2 && c != 0xE3 && c != 0xEF
    }

    enum TerminatorKind { case period, ellipsis, cjk, other }

    @inline(__always)
    static func terminator(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> (length: Int, kind: TerminatorKind) {
        let c = b[i]
        switch c {
        case UInt8(ascii: "."): return (1, .period)
        case UInt8(ascii: "!"), UInt8(ascii: "?"): return (1, .other)
        case 0xE2 where i + 2 < b.count:
            if b[i + 1] == 0x80 && b[i + 2] == 0xA6 { return (3, .ellipsis) }  // …
            if b[i + 1] == 0x80 && b[i + 2] == 0xBC { return (3, .other) }  // ‼
            if b[i + 1] == 0x81 && (0x87...0x89).contains(b[i + 2]) { return (3, .other) }  // ⁇ ⁈ ⁉
            return (0, .other)
        case 0xE3 where i + 2 < b.count:
            return b[i + 1] == 0x80 && b[i + 2] == 0x82 ? (3, .cjk) : (0, .other)  // 。
        case 0xEF where i + 2 < b.count:
            if b[i + 1] == 0xBC && (b[i + 2] == 0x81 || b[i + 2] == 0x9F) { return (3, .cjk) }  // ！ ？
            if b[i + 1] == 0xBD && b[i + 2] == 0xA1 { return (3, .cjk) }  // ｡
            return (0, .other)
        default:
            return (0, .other)
        }
    }

    /// Closing quotes, brackets and markdown emphasis that belong to the sentence they follow.
    @inline(__always)
    static func closerLength(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
        switch b[i] {
        case UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"),
             UInt8(ascii: "*"), UInt8(ascii: "_"):
            return 1
        case 0xC2 where i + 1 < b.count && b[i + 1] == 0xBB:  // »
            return 2
        case 0xE2 where i + 2 < b.count && b[i + 1] == 0x80 && (b[i + 2] == 0x99 || b[i + 2] == 0x9D):  // ’ ”
            return 3
        case 0xE3 where i + 2 < b.count && b[i + 1] == 0x80 && [0x8D, 0x8F, 0x91].contains(b[i + 2]):  // 」』】
            return 3
        case 0xEF where i + 2 < b.count && b[i + 1] == 0xBC && b[i + 2] == 0x89:  // ）
            return 3
        default:
            return 0
        }
    }

    /// Opening quotes and brackets skipped when looking at the word after a terminator.
    @inline(__always)
    static func openerLength(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
        switch b[i] {
        case UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"),
             UInt8(ascii: "*"), UInt8(ascii: "_"):
            return 1
        case 0xC2 where i + 1 < b.count && (b[i + 1] == 0xAB || b[i + 1] == 0xBF || b[i + 1] == 0xA1):  // « ¿ ¡
            return 2
        case 0xE2 where i + 2 < b.count && b[i + 1] == 0x80 && (b[i + 2] == 0x98 || b[i + 2] == 0x9C):  // ‘ “
            return 3
        default:
            return 0
        }
    }

    /// Whether the terminator run `i..<j` (closers included) ends the sentence. `lineStart` is the
    /// sentence's first byte when it opens a line, else -1.
    static func endsSentence(_ b: UnsafeBufferPointer<UInt8>, at i: Int, after j: Int, plainPeriod: Bool,
                             ellipsis: Bool, cjk: Bool, closed: Bool, lineStart: Int) -> Bool {
        let n = b.count
        if cjk { return true }
        if j >= n { return true }
        if UTF8Bytes.whitespaceLength(b, j) == 0 { return false }  // 3.14, e.g.x, example.com
        // The next word, past whitespace and opening quotes.
        var k = j
        while k < n {
            let w = UTF8Bytes.whitespaceLength(b, k)
            if w > 0 { k += w; continue }
            let o = openerLength(b, k)
            if o > 0 { k += o; continue }
            break
        }
        guard let next = UTF8Bytes.scalar(b, at: k) else { return true }
        let nextLower = next.properties.isLowercase
        let nextUpper = next.properties.isUppercase
        let nextDigit = next.value >= 0x30 && next.value <= 0x39
        if (ellipsis || closed) && nextLower { return false }
        guard plainPeriod else { return true }

        // The word before the period, past opening quotes and brackets; long words are no abbreviations.
        var s = i
        while s > 0 && i - s < 32 {
            let c = b[s - 1]
            if UTF8Bytes.isASCIIWhitespace(c) { break }
            s -= 1
        }
        if s > 0 && !UTF8Bytes.isASCIIWhitespace(b[s - 1]) { return true }
        while s < i {
            let o = openerLength(b, s)
            if o == 0 { break }
            s += o
        }
        guard s < i else { return true }
        var word = ""
        word.unicodeScalars.reserveCapacity(i - s)
        for p in s..<i {
            let c = b[p]
            guard c < 0x80 else { return true }  // abbreviations and initials are ASCII here
            word.unicodeScalars.append(Unicode.Scalar(c >= 0x41 && c <= 0x5A ? c + 0x20 : c))
        }
        if alwaysAbbreviations.contains(word) { return false }
        if word == "no" || word == "nos" || word == "nr" {
            return !(nextDigit || next == "#")
        }
        if conditionalAbbreviations.contains(word) { return nextUpper }
        let letters = word.unicodeScalars.filter { $0.properties.isAlphabetic }.count
        if word.count == 1 && letters == 1 { return false }  // an initial: "J. R. R. Tolkien"
        if isDottedAcronym(word) { return nextUpper }  // "I.B.M. is" goes on, "I.B.M. The" ends
        if s == lineStart && word.count <= 3 && word.unicodeScalars.allSatisfy({ $0.value >= 0x30 && $0.value <= 0x39 }) {
            return false  // "1. First item"
        }
        return true
    }

    /// Abbreviations that are nearly always followed by more of the same sentence.
    static let alwaysAbbreviations: Set<String> = [
        "e.g", "i.e", "eg", "ie", "cf", "viz", "vs", "v", "approx", "ca", "resp", "esp",
        "mr", "mrs", "ms", "mx", "dr", "prof", "st", "mt", "sen", "rep", "gov", "gen", "col", "capt",
        "lt", "sgt", "rev", "hon", "fr", "pres", "supt", "u.s", "u.k", "u.n", "e.u",
        "fig", "figs", "eq", "eqs", "ch", "sec", "vol", "pp", "p", "op", "cit", "ed", "eds",
    ]

    /// Abbreviations that often end a sentence too: they end one when a capital letter follows.
    static let conditionalAbbreviations: Set<String> = [
        "etc", "inc", "ltd", "co", "corp", "jr", "sr", "al", "a.m", "p.m", "ph.d", "dept", "est",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    ]

    /// "u.s.a", "p.h.d": single letters joined by periods.
    static func isDottedAcronym(_ word: String) -> Bool {
        let scalars = Array(word.unicodeScalars)
        guard scalars.count >= 3, scalars.count % 2 == 1 else { return false }
        for (k, s) in scalars.enumerated() {
            if k % 2 == 0 {
                guard s.properties.isAlphabetic else { return false }
            } else if s != "." {
                return false
            }
        }
        return true
    }

    /// A markdown heading: one to six "#" then a space.
    static func isHeading(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        var k = i
        while k < b.count && b[k] == UInt8(ascii: "#") && k - i < 7 { k += 1 }
        let hashes = k - i
        return hashes >= 1 && hashes <= 6 && k < b.count && (b[k] == 0x20 || b[k] == 0x09)
    }

    /// Whether a line starting at `i` opens a block of its own: a heading or a list item.
    static func startsBlockLine(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        let n = b.count
        let c = b[i]
        if c == UInt8(ascii: "#") { return isHeading(b, i) }
        if c == UInt8(ascii: "-") || c == UInt8(ascii: "*") || c == UInt8(ascii: "+") {
            return i + 1 < n && (b[i + 1] == 0x20 || b[i + 1] == 0x09)
        }
        if c == 0xE2 && i + 3 < n && b[i + 1] == 0x80 && b[i + 2] == 0xA2 {  // •
            return b[i + 3] == 0x20 || b[i + 3] == 0x09
        }
        var k = i
        while k < n && k - i < 4 && b[k] >= 0x30 && b[k] <= 0x39 { k += 1 }
        let digits = k - i
        guard digits >= 1 && digits <= 3 && k + 1 < n else { return false }
        return (b[k] == UInt8(ascii: ".") || b[k] == UInt8(ascii: ")")) && (b[k + 1] == 0x20 || b[k + 1] == 0x09)
    }
}
