/// Visible text of an HTML page, by a small forgiving scanner (real HTML is not XML, so no parser
/// that wants well-formed input). Drops comments, doctype and processing instructions, tags, and
/// the contents of script, style, title, noscript, template, textarea, iframe, object, svg and
/// math — which leaves nothing of <head> (its title goes to metadata; meta and link have no
/// text; stray text there is shown by browsers, so it is kept). Decodes the common named entities and all numeric ones. Block-level
/// tags become paragraph breaks ("\n\n", so the sentence splitter ends a sentence there), <br> a
/// line break, table cells a space; other whitespace runs collapse to one space (inside <pre>,
/// line breaks are kept).
enum HTMLText {
    /// The visible text, and the <title> if there is one.
    static func extract(_ b: UnsafeBufferPointer<UInt8>) -> (text: String, title: String?) {
        let n = b.count
        var text = TextBuilder()
        var title: String?
        var preDepth = 0
        var i = 0
        while i < n {
            let c = b[i]
            if c == UInt8(ascii: "<") {
                if starts(b, i, "<!--") {
                    i = find(b, "-->", from: i + 4).map { $0 + 3 } ?? n
                    continue
                }
                if i + 1 < n && (b[i + 1] == UInt8(ascii: "!") || b[i + 1] == UInt8(ascii: "?")) {
                    i = find(b, ">", from: i + 2).map { $0 + 1 } ?? n
                    continue
                }
                let isEnd = i + 1 < n && b[i + 1] == UInt8(ascii: "/")
                let nameStart = isEnd ? i + 2 : i + 1
                guard nameStart < n, isASCIILetter(b[nameStart]) else {
                    if isEnd {  // "</ >" and the like: a bogus comment in HTML
                        i = find(b, ">", from: i + 2).map { $0 + 1 } ?? n
                    } else {
                        text.append(c)
                        i += 1
                    }
                    continue
                }
                let tag = scanTag(b, nameStart: nameStart)
                i = tag.end
                let name = tag.name
                if isEnd {
                    if name == "pre" { preDepth = max(0, preDepth - 1) }
                } else {
                    if name == "pre" && !tag.selfClosing { preDepth += 1 }
                    if skippedElements.contains(name) && !tag.selfClosing {
                        let close = closingTag(b, name: name, from: i, nests: !rawTextElements.contains(name))
                        if name == "title" && title == nil {
                            let t = decodeText(UnsafeBufferPointer(rebasing: b[i..<close.contentEnd]))
                            if !t.isEmpty { title = t }
                        }
                        i = close.end
                        continue
                    }
                }
                if name == "br" {
                    text.lineBreak(1)
                } else if name == "td" || name == "th" {
                    text.space()
                } else if blockElements.contains(name) {
                    text.lineBreak(2)
                }
                continue
            }
            i = appendText(b, at: i, to: &text, keepLineBreaks: preDepth > 0)
        }
        return (text.string, title)
    }

    /// Decodes entities and collapses whitespace in a run of text with no tags (a <title>).
    static func decodeText(_ b: UnsafeBufferPointer<UInt8>) -> String {
        var text = TextBuilder()
        var i = 0
        while i < b.count { i = appendText(b, at: i, to: &text, keepLineBreaks: false) }
        return text.string
    }

    /// Appends the text character (or entity) at `i`; returns the index after it.
    static func appendText(_ b: UnsafeBufferPointer<UInt8>, at i: Int, to text: inout TextBuilder, keepLineBreaks: Bool) -> Int {
        let c = b[i]
        let w = UTF8Bytes.whitespaceLength(b, i)
        if w > 0 {
            if keepLineBreaks && c == 0x0A { text.lineBreak(1) } else { text.space() }
            return i + w
        }
        if c == UInt8(ascii: "&"), let entity = decodeEntity(b, at: i) {
            switch entity.value {
            case .space: text.space()
            case .nothing: break
            case .scalar(let s): text.append(s)
            }
            return entity.end
        }
        text.append(c)
        return i + 1
    }

    enum EntityValue { case scalar(Unicode.Scalar), space, nothing }

    /// A character reference at `i` ("&amp;", "&#233;", "&#xE9;"); nil when it is a literal "&".
    static func decodeEntity(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> (value: EntityValue, end: Int)? {
        let n = b.count
        var k = i + 1
        if k < n && b[k] == UInt8(ascii: "#") {
            k += 1
            let hex = k < n && (b[k] == UInt8(ascii: "x") || b[k] == UInt8(ascii: "X"))
            if hex { k += 1 }
            let digitsStart = k
            var value: UInt32 = 0
            while k < n, let d = digitValue(b[k], hex: hex) {
                if value <= 0x10FFFF { value = value * (hex ? 16 : 10) + d }
                k += 1
            }
            guard k > digitsStart else { return nil }
            if k < n && b[k] == UInt8(ascii: ";") { k += 1 }
            // NUL, C1 controls, surrogates and out-of-range values become U+FFFD, as browsers do.
            let invalid = value == 0 || (0x80...0x9F).contains(value) || value > 0x10FFFF
            let scalar = invalid ? nil : Unicode.Scalar(value)
            if scalar == "\u{A0}" { return (.space, k) }
            return (.scalar(scalar ?? "\u{FFFD}"), k)
        }
        let nameStart = k
        while k < n && k - nameStart < 10 && (isASCIILetter(b[k]) || (b[k] >= 0x30 && b[k] <= 0x39)) { k += 1 }
        guard k > nameStart, k < n, b[k] == UInt8(ascii: ";") else { return nil }
        let name = String(decoding: UnsafeBufferPointer(rebasing: b[nameStart..<k]), as: UTF8.self)
        guard let value = namedEntities[name] else { return nil }
        return (value, k + 1)
    }

    /// The 252 named entities of HTML 4 (Latin-1, symbols, Greek) plus "apos" and the upper-case
    /// forms HTML 5 also accepts; the no-break and other spaces read as a space, invisible
    /// formatting characters (soft hyphen, joiners, direction marks) as nothing.
    static let namedEntities: [String: EntityValue] = [
        "quot": .scalar("\u{22}"), "amp": .scalar("\u{26}"), "lt": .scalar("\u{3C}"), "gt": .scalar("\u{3E}"),
        "nbsp": .space, "iexcl": .scalar("\u{A1}"), "cent": .scalar("\u{A2}"), "pound": .scalar("\u{A3}"),
        "curren": .scalar("\u{A4}"), "yen": .scalar("\u{A5}"), "brvbar": .scalar("\u{A6}"), "sect": .scalar("\u{A7}"),
        "uml": .scalar("\u{A8}"), "copy": .scalar("\u{A9}"), "ordf": .scalar("\u{AA}"), "laquo": .scalar("\u{AB}"),
        "not": .scalar("\u{AC}"), "shy": .nothing, "reg": .scalar("\u{AE}"), "macr": .scalar("\u{AF}"),
        "deg": .scalar("\u{B0}"), "plusmn": .scalar("\u{B1}"), "sup2": .scalar("\u{B2}"), "sup3": .scalar("\u{B3}"),
        "acute": .scalar("\u{B4}"), "micro": .scalar("\u{B5}"), "para": .scalar("\u{B6}"),
        "middot": .scalar("\u{B7}"), "cedil": .scalar("\u{B8}"), "sup1": .scalar("\u{B9}"), "ordm": .scalar("\u{BA}"),
        "raquo": .scalar("\u{BB}"), "frac14": .scalar("\u{BC}"), "frac12": .scalar("\u{BD}"),
        "frac34": .scalar("\u{BE}"), "iquest": .scalar("\u{BF}"), "Agrave": .scalar("\u{C0}"),
        "Aacute": .scalar("\u{C1}"), "Acirc": .scalar("\u{C2}"), "Atilde": .scalar("\u{C3}"),
        "Auml": .scalar("\u{C4}"), "Aring": .scalar("\u{C5}"), "AElig": .scalar("\u{C6}"),
        "Ccedil": .scalar("\u{C7}"), "Egrave": .scalar("\u{C8}"), "Eacute": .scalar("\u{C9}"),
        "Ecirc": .scalar("\u{CA}"), "Euml": .scalar("\u{CB}"), "Igrave": .scalar("\u{CC}"),
        "Iacute": .scalar("\u{CD}"), "Icirc": .scalar("\u{CE}"), "Iuml": .scalar("\u{CF}"), "ETH": .scalar("\u{D0}"),
        "Ntilde": .scalar("\u{D1}"), "Ograve": .scalar("\u{D2}"), "Oacute": .scalar("\u{D3}"),
        "Ocirc": .scalar("\u{D4}"), "Otilde": .scalar("\u{D5}"), "Ouml": .scalar("\u{D6}"),
        "times": .scalar("\u{D7}"), "Oslash": .scalar("\u{D8}"), "Ugrave": .scalar("\u{D9}"),
        "Uacute": .scalar("\u{DA}"), "Ucirc": .scalar("\u{DB}"), "Uuml": .scalar("\u{DC}"),
        "Yacute": .scalar("\u{DD}"), "THORN": .scalar("\u{DE}"), "szlig": .scalar("\u{DF}"),
        "agrave": .scalar("\u{E0}"), "aacute": .scalar("\u{E1}"), "acirc": .scalar("\u{E2}"),
        "atilde": .scalar("\u{E3}"), "auml": .scalar("\u{E4}"), "aring": .scalar("\u{E5}"),
        "aelig": .scalar("\u{E6}"), "ccedil": .scalar("\u{E7}"), "egrave": .scalar("\u{E8}"),
        "eacute": .scalar("\u{E9}"), "ecirc": .scalar("\u{EA}"), "euml": .scalar("\u{EB}"),
        "igrave": .scalar("\u{EC}"), "iacute": .scalar("\u{ED}"), "icirc": .scalar("\u{EE}"),
        "iuml": .scalar("\u{EF}"), "eth": .scalar("\u{F0}"), "ntilde": .scalar("\u{F1}"), "ograve": .scalar("\u{F2}"),
        "oacute": .scalar("\u{F3}"), "ocirc": .scalar("\u{F4}"), "otilde": .scalar("\u{F5}"),
        "ouml": .scalar("\u{F6}"), "divide": .scalar("\u{F7}"), "oslash": .scalar("\u{F8}"),
        "ugrave": .scalar("\u{F9}"), "uacute": .scalar("\u{FA}"), "ucirc": .scalar("\u{FB}"),
        "uuml": .scalar("\u{FC}"), "yacute": .scalar("\u{FD}"), "thorn": .scalar("\u{FE}"), "yuml": .scalar("\u{FF}"),
        "OElig": .scalar("\u{152}"), "oelig": .scalar("\u{153}"), "Scaron": .scalar("\u{160}"),
        "scaron": .scalar("\u{161}"), "Yuml": .scalar("\u{178}"), "fnof": .scalar("\u{192}"),
        "circ": .scalar("\u{2C6}"), "tilde": .scalar("\u{2DC}"), "Alpha": .scalar("\u{391}"),
        "Beta": .scalar("\u{392}"), "Gamma": .scalar("\u{393}"), "Delta": .scalar("\u{394}"),
        "Epsilon": .scalar("\u{395}"), "Zeta": .scalar("\u{396}"), "Eta": .scalar("\u{397}"),
        "Theta": .scalar("\u{398}"), "Iota": .scalar("\u{399}"), "Kappa": .scalar("\u{39A}"),
        "Lambda": .scalar("\u{39B}"), "Mu": .scalar("\u{39C}"), "Nu": .scalar("\u{39D}"), "Xi": .scalar("\u{39E}"),
        "Omicron": .scalar("\u{39F}"), "Pi": .scalar("\u{3A0}"), "Rho": .scalar("\u{3A1}"),
        "Sigma": .scalar("\u{3A3}"), "Tau": .scalar("\u{3A4}"), "Upsilon": .scalar("\u{3A5}"),
        "Phi": .scalar("\u{3A6}"), "Chi": .scalar("\u{3A7}"), "Psi": .scalar("\u{3A8}"), "Omega": .scalar("\u{3A9}"),
        "alpha": .scalar("\u{3B1}"), "beta": .scalar("\u{3B2}"), "gamma": .scalar("\u{3B3}"),
        "delta": .scalar("\u{3B4}"), "epsilon": .scalar("\u{3B5}"), "zeta": .scalar("\u{3B6}"),
        "eta": .scalar("\u{3B7}"), "theta": .scalar("\u{3B8}"), "iota": .scalar("\u{3B9}"),
        "kappa": .scalar("\u{3BA}"), "lambda": .scalar("\u{3BB}"), "mu": .scalar("\u{3BC}"), "nu": .scalar("\u{3BD}"),
        "xi": .scalar("\u{3BE}"), "omicron": .scalar("\u{3BF}"), "pi": .scalar("\u{3C0}"), "rho": .scalar("\u{3C1}"),
        "sigmaf": .scalar("\u{3C2}"), "sigma": .scalar("\u{3C3}"), "tau": .scalar("\u{3C4}"),
        "upsilon": .scalar("\u{3C5}"), "phi": .scalar("\u{3C6}"), "chi": .scalar("\u{3C7}"),
        "psi": .scalar("\u{3C8}"), "omega": .scalar("\u{3C9}"), "thetasym": .scalar("\u{3D1}"),
        "upsih": .scalar("\u{3D2}"), "piv": .scalar("\u{3D6}"), "ensp": .space, "emsp": .space, "thinsp": .space,
        "zwnj": .nothing, "zwj": .nothing, "lrm": .nothing, "rlm": .nothing, "ndash": .scalar("\u{2013}"),
        "mdash": .scalar("\u{2014}"), "lsquo": .scalar("\u{2018}"), "rsquo": .scalar("\u{2019}"),
        "sbquo": .scalar("\u{201A}"), "ldquo": .scalar("\u{201C}"), "rdquo": .scalar("\u{201D}"),
        "bdquo": .scalar("\u{201E}"), "dagger": .scalar("\u{2020}"), "Dagger": .scalar("\u{2021}"),
        "bull": .scalar("\u{2022}"), "hellip": .scalar("\u{2026}"), "permil": .scalar("\u{2030}"),
        "prime": .scalar("\u{2032}"), "Prime": .scalar("\u{2033}"), "lsaquo": .scalar("\u{2039}"),
        "rsaquo": .scalar("\u{203A}"), "oline": .scalar("\u{203E}"), "frasl": .scalar("\u{2044}"),
        "euro": .scalar("\u{20AC}"), "image": .scalar("\u{2111}"), "weierp": .scalar("\u{2118}"),
        "real": .scalar("\u{211C}"), "trade": .scalar("\u{2122}"), "alefsym": .scalar("\u{2135}"),
        "larr": .scalar("\u{2190}"), "uarr": .scalar("\u{2191}"), "rarr": .scalar("\u{2192}"),
        "darr": .scalar("\u{2193}"), "harr": .scalar("\u{2194}"), "crarr": .scalar("\u{21B5}"),
        "lArr": .scalar("\u{21D0}"), "uArr": .scalar("\u{21D1}"), "rArr": .scalar("\u{21D2}"),
        "dArr": .scalar("\u{21D3}"), "hArr": .scalar("\u{21D4}"), "forall": .scalar("\u{2200}"),
        "part": .scalar("\u{2202}"), "exist": .scalar("\u{2203}"), "empty": .scalar("\u{2205}"),
        "nabla": .scalar("\u{2207}"), "isin": .scalar("\u{2208}"), "notin": .scalar("\u{2209}"),
        "ni": .scalar("\u{220B}"), "prod": .scalar("\u{220F}"), "sum": .scalar("\u{2211}"),
        "minus": .scalar("\u{2212}"), "lowast": .scalar("\u{2217}"), "radic": .scalar("\u{221A}"),
        "prop": .scalar("\u{221D}"), "infin": .scalar("\u{221E}"), "ang": .scalar("\u{2220}"),
        "and": .scalar("\u{2227}"), "or": .scalar("\u{2228}"), "cap": .scalar("\u{2229}"), "cup": .scalar("\u{222A}"),
        "int": .scalar("\u{222B}"), "there4": .scalar("\u{2234}"), "sim": .scalar("\u{223C}"),
        "cong": .scalar("\u{2245}"), "asymp": .scalar("\u{2248}"), "ne": .scalar("\u{2260}"),
        "equiv": .scalar("\u{2261}"), "le": .scalar("\u{2264}"), "ge": .scalar("\u{2265}"),
        "sub": .scalar("\u{2282}"), "sup": .scalar("\u{2283}"), "nsub": .scalar("\u{2284}"),
        "sube": .scalar("\u{2286}"), "supe": .scalar("\u{2287}"), "oplus": .scalar("\u{2295}"),
        "otimes": .scalar("\u{2297}"), "perp": .scalar("\u{22A5}"), "sdot": .scalar("\u{22C5}"),
        "lceil": .scalar("\u{2308}"), "rceil": .scalar("\u{2309}"), "lfloor": .scalar("\u{230A}"),
        "rfloor": .scalar("\u{230B}"), "lang": .scalar("\u{2329}"), "rang": .scalar("\u{232A}"),
        "loz": .scalar("\u{25CA}"), "spades": .scalar("\u{2660}"), "clubs": .scalar("\u{2663}"),
        "hearts": .scalar("\u{2665}"), "diams": .scalar("\u{2666}"), "AMP": .scalar("\u{26}"),
        "LT": .scalar("\u{3C}"), "GT": .scalar("\u{3E}"), "QUOT": .scalar("\u{22}"), "apos": .scalar("\u{27}"),
    ]

    /// Elements whose contents are not visible text.
    static let skippedElements: Set<String> = [
        "script", "style", "title", "noscript", "template", "iframe", "object", "svg", "math", "textarea",
    ]
    /// Of those, the ones whose contents are raw text (no tags inside, so no nesting to count).
    static let rawTextElements: Set<String> = ["script", "style", "title", "textarea"]
    static let blockElements: Set<String> = [
        "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog",
        "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "frameset",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li", "main", "menu",
        "nav", "ol", "option", "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
    ]

    /// The name (lower-cased) and end of the tag whose name starts at `nameStart`; attribute values
    /// in quotes may contain ">".
    static func scanTag(_ b: UnsafeBufferPointer<UInt8>, nameStart: Int) -> (name: String, end: Int, selfClosing: Bool) {
        let n = b.count
        var k = nameStart
        var name = ""
        while k < n {
            let c = b[k]
            guard isASCIILetter(c) || (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: ":") else { break }
            if name.utf8.count < 32 { name.unicodeScalars.append(Unicode.Scalar(c >= 0x41 && c <= 0x5A ? c + 0x20 : c)) }
            k += 1
        }
        var afterEquals = false
        var previous: UInt8 = 0
        while k < n {
            let c = b[k]
            if c == UInt8(ascii: ">") {
                return (name, k + 1, previous == UInt8(ascii: "/"))
            }
            if afterEquals && (c == UInt8(ascii: "\"") || c == UInt8(ascii: "'")) {
                guard let close = find(b, c, from: k + 1) else { return (name, n, false) }
                k = close + 1
                afterEquals = false
                previous = c
                continue
            }
            if !UTF8Bytes.isASCIIWhitespace(c) {
                afterEquals = c == UInt8(ascii: "=")
                previous = c
            }
            k += 1
        }
        return (name, n, false)
    }

    /// Where the element opened just before `from` closes: the start of its end tag and the index
    /// after it (the end of the input when it never closes, as in browsers).
    static func closingTag(_ b: UnsafeBufferPointer<UInt8>, name: String, from: Int, nests: Bool) -> (contentEnd: Int, end: Int) {
        let n = b.count
        let nameBytes = Array(name.utf8)
        var depth = 1
        var k = from
        while let lt = find(b, UInt8(ascii: "<"), from: k) {
            let isEnd = lt + 1 < n && b[lt + 1] == UInt8(ascii: "/")
            let p = isEnd ? lt + 2 : lt + 1
            k = lt + 1
            guard (isEnd || nests), matchesName(b, p, nameBytes) else { continue }
            if isEnd {
                depth -= 1
                if depth == 0 {
                    let end = find(b, UInt8(ascii: ">"), from: p).map { $0 + 1 } ?? n
                    return (lt, end)
                }
            } else {
                let tag = scanTag(b, nameStart: p)
                if !tag.selfClosing { depth += 1 }
                k = tag.end
            }
        }
        return (n, n)
    }

    /// Whether `name` (lower case) is at `p`, case-insensitively, followed by the end of the name.
    static func matchesName(_ b: UnsafeBufferPointer<UInt8>, _ p: Int, _ name: [UInt8]) -> Bool {
        guard p + name.count <= b.count else { return false }
        for (k, expected) in name.enumerated() {
            let c = b[p + k]
            if (c >= 0x41 && c <= 0x5A ? c + 0x20 : c) != expected { return false }
        }
        let after = p + name.count
        guard after < b.count else { return true }
        let c = b[after]
        return UTF8Bytes.isASCIIWhitespace(c) || c == UInt8(ascii: ">") || c == UInt8(ascii: "/")
    }

    static func starts(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard i + count <= b.count else { return false }
        let p = prefix.utf8Start
        for k in 0..<count where b[i + k] != p[k] { return false }
        return true
    }

    static func find(_ b: UnsafeBufferPointer<UInt8>, _ byte: UInt8, from: Int) -> Int? {
        var k = from
        while k < b.count {
            if b[k] == byte { return k }
            k += 1
        }
        return nil
    }

    static func find(_ b: UnsafeBufferPointer<UInt8>, _ needle: StaticString, from: Int) -> Int? {
        guard needle.utf8CodeUnitCount > 0 else { return from }
        let first = needle.utf8Start[0]
        var k = from
        while let p = find(b, first, from: k) {
            if starts(b, p, needle) { return p }
            k = p + 1
        }
        return nil
    }

    @inline(__always)
    static func isASCIILetter(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }

    @inline(__always)
    static func digitValue(_ c: UInt8, hex: Bool) -> UInt32? {
        if c >= 0x30 && c <= 0x39 { return UInt32(c - 0x30) }
        guard hex else { return nil }
        let l = c | 0x20
        if l >= 0x61 && l <= 0x66 { return UInt32(l - 0x61 + 10) }
        return nil
    }
}

/// Collects extracted text, collapsing whitespace: a pending space or line break is written only
/// when more text follows, so the result has no leading, trailing or repeated whitespace.
struct TextBuilder {
    private(set) var bytes: [UInt8] = []
    private var pendingSpace = false
    private var pendingBreaks = 0

    mutating func space() { pendingSpace = true }
    mutating func lineBreak(_ count: Int) { pendingBreaks = max(pendingBreaks, count) }

    @inline(__always)
    private mutating func flush() {
        if !bytes.isEmpty {
            if pendingBreaks > 0 {
                for _ in 0..<pendingBreaks { bytes.append(0x0A) }
            } else if pendingSpace {
                bytes.append(0x20)
            }
        }
        pendingSpace = false
        pendingBreaks = 0
    }

    mutating func append(_ byte: UInt8) {
        if pendingSpace || pendingBreaks > 0 { flush() }
        bytes.append(byte)
    }

    mutating func append(_ scalar: Unicode.Scalar) {
        if pendingSpace || pendingBreaks > 0 { flush() }
        UTF8Bytes.append(scalar, to: &bytes)
    }

    var string: String { String(decoding: bytes, as: UTF8.self) }
}
