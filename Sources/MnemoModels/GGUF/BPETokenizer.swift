import Foundation

// Byte-level BPE (GPT-2 style) read from GGUF metadata, following llama.cpp's tokenizer: special tokens
// are split out first, the rest is cut into words by the family's pre-tokenizer, each word's UTF-8 bytes
// are mapped to GPT-2's printable byte characters, and merges are applied lowest rank first.

public final class BPETokenizer: Sendable {
    /// The pre-tokenizer families this tokenizer implements (named after `tokenizer.ggml.pre`).
    public enum PreTokenizer: String, Sendable {
        /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
        case gpt2
        /// Each `\p{N}` isolated first, then the GPT-2 expression (llama.cpp: smollm, starcoder, refact, command-r).
        case starcoder
        /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
        case qwen2

        init?(ggufName: String) {
            switch ggufName {
            case "gpt2", "gpt-2", "phi-2", "mpt", "olmo": self = .gpt2
            case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva": self = .starcoder
            case "qwen2", "stablelm2", "deepseek-r1-qwen": self = .qwen2
            default: return nil
            }
        }
    }

    /// GGUF `tokenizer.ggml.token_type` values.
    public enum TokenType: Int32, Sendable {
        case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    public let path: String
    public let preTokenizer: PreTokenizer
    public let tokens: [String]
    public let tokenTypes: [TokenType]
    public let bosID: Int32?
    public let eosID: Int32?
    /// `tokenizer.ggml.add_bos_token` (false when absent).
    public let addBOSByDefault: Bool
    /// Tokens that end a generation: EOS, and the end-of-turn and fill-in-the-middle markers found by
    /// name (`endOfGenerationNames`), as llama.cpp finds them.
    public let endOfGenerationIDs: Set<Int32>

    /// Names llama.cpp treats as ending a generation whatever type the file gives them (they are made
    /// control tokens): end-of-turn markers, and the FIM pad, repository and file-separator tokens.
    static let endOfGenerationNames: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOS_TOKEN>", "_<EOT>", "</s>",
        "<|fim_pad|>", "<fim-pad>", "<PAD>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>",
        "<|file_sep|>",
    ]
    public var vocabularySize: Int { tokens.count }

    private let tokenToID: [String: Int32]
    /// (left id << 32 | right id) → (rank, merged id).
    private let merges: [UInt64: (rank: Int32, result: Int32)]
    /// The token for each single byte (its GPT-2 printable character), -1 if the vocabulary lacks it.
    private let byteTokens: [Int32]
    /// Each token's decoded bytes (normal tokens through the byte map; others verbatim).
    private let tokenBytes: [[UInt8]]
    /// Control/user-defined/unknown tokens, longest first: (id, UTF-8 bytes, is user-defined).
    private let specials: [(id: Int32, bytes: [UInt8], userDefined: Bool)]

    public convenience init(path: String) throws {
        try self.init(gguf: GGUFFile(path: path))
    }

    public init(gguf: GGUFFile) throws {
        path = gguf.path
        let p = gguf.path
        guard let model = try gguf.string("tokenizer.ggml.model") else {
            throw ModelError(.badConfig, "\(p): no tokenizer.ggml.model in the metadata")
        }
        guard model == "gpt2" else {
            throw ModelError(.unsupported, "\(p): tokenizer model '\(model)' is not byte-level BPE (gpt2)")
        }
        let preName = try gguf.string("tokenizer.ggml.pre") ?? "default"
        guard let pre = PreTokenizer(ggufName: preName) else {
            throw ModelError(.unsupported, "\(p): pre-tokenizer '\(preName)' is not supported (gpt2, smollm/starcoder, qwen2)")
        }
        preTokenizer = pre
        guard let tokens = try gguf.stringArray("tokenizer.ggml.tokens"), !tokens.isEmpty else {
            throw ModelError(.badConfig, "\(p): no tokenizer.ggml.tokens in the metadata")
        }
        guard tokens.count < Int(Int32.max) else { throw ModelError(.badConfig, "\(p): \(tokens.count) tokens is too many") }
        self.tokens = tokens
        let n = tokens.count

        var types = [TokenType](repeating: .normal, count: n)
        if let raw = try gguf.intArray("tokenizer.ggml.token_type") {
            guard raw.count == n else {
                throw ModelError(.badConfig, "\(p): tokenizer.ggml.token_type has \(raw.count) entries for \(n) tokens")
            }
            for (i, t) in raw.enumerated() {
                guard let tt = Int32(exactly: t).flatMap(TokenType.init(rawValue:)) else {
                    throw ModelError(.badConfig, "\(p): token \(i) has invalid token type \(t)")
                }
                types[i] = tt
            }
        }
        var endOfGeneration = Set<Int32>()
        for (i, t) in tokens.enumerated() where Self.endOfGenerationNames.contains(t) {
            types[i] = .control
            endOfGeneration.insert(Int32(i))
        }
        tokenTypes = types

        func tokenID(_ key: String) throws -> Int32? {
            guard let v = try gguf.int(key) else { return nil }
            guard v >= 0, v < n else { throw ModelError(.badConfig, "\(p): \(key) = \(v) is outside the vocabulary (\(n) tokens)") }
            return Int32(v)
        }
        bosID = try tokenID("tokenizer.ggml.bos_token_id")
        eosID = try tokenID("tokenizer.ggml.eos_token_id")
        addBOSByDefault = try gguf.bool("tokenizer.ggml.add_bos_token") ?? false
        if let eosID { endOfGeneration.insert(eosID) }
        endOfGenerationIDs = endOfGeneration

        var tokenToID: [String: Int32] = [:]
        tokenToID.reserveCapacity(n)
        for (i, t) in tokens.enumerated() where tokenToID[t] == nil { tokenToID[t] = Int32(i) }
        self.tokenToID = tokenToID

        let byteToChar = Self.byteToUnicode
        byteTokens = byteToChar.map { tokenToID[String(Character($0))] ?? -1 }

        guard let mergeList = try gguf.stringArray("tokenizer.ggml.merges") else {
            throw ModelError(.badConfig, "\(p): no tokenizer.ggml.merges in the metadata")
        }
        var merges: [UInt64: (rank: Int32, result: Int32)] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, m) in mergeList.enumerated() {
            // Split at the first space after the first character (a merge's left part is never empty).
            let u = Array(m.utf8)
            guard u.count >= 3, let space = u[1...].firstIndex(of: 0x20) else {
                throw ModelError(.badConfig, "\(p): merge \(rank) '\(m)' is not two tokens separated by a space")
            }
            let left = String(decoding: u[..<space], as: UTF8.self)
            let right = String(decoding: u[(space + 1)...], as: UTF8.self)
            guard let l = tokenToID[left], let r = tokenToID[right] else { continue }
            let result = tokenToID[left + right] ?? -1
            let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
            if merges[key] == nil { merges[key] = (Int32(rank), result) }
        }
        self.merges = merges

        let unicodeToByte = Self.unicodeToByte
        var tokenBytes: [[UInt8]] = []
        tokenBytes.reserveCapacity(n)
        var specials: [(id: Int32, bytes: [UInt8], userDefined: Bool)] = []
        for (i, t) in tokens.enumerated() {
            switch types[i] {
            case .normal, .undefined, .byte:
                var out: [UInt8] = []
                out.reserveCapacity(t.utf8.count)
                for s in t.unicodeScalars {
                    if let b = unicodeToByte[s.value] { out.append(b) } else { out.append(contentsOf: String(s).utf8) }
                }
                tokenBytes.append(out)
            case .control, .userDefined, .unknown, .unused:
                tokenBytes.append(Array(t.utf8))
            }
            if [.control, .userDefined, .unknown].contains(types[i]), !t.isEmpty {
                specials.append((Int32(i), Array(t.utf8), types[i] == .userDefined))
            }
        }
        self.tokenBytes = tokenBytes
        // Longest first, then by id so the order is deterministic.
        self.specials = specials.sorted { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }
    }

    // MARK: - GPT-2 byte ↔ unicode

    /// GPT-2's map from each byte to a printable character: printable Latin-1 bytes map to themselves,
    /// the rest to U+0100 onwards in byte order.
    static let byteToUnicode: [Unicode.Scalar] = {
        var map = [UInt32](repeating: 0, count: 256)
        var assigned = [Bool](repeating: false, count: 256)
        for b in 0x21...0x7E { map[b] = UInt32(b); assigned[b] = true }
        for b in 0xA1...0xAC { map[b] = UInt32(b); assigned[b] = true }
        for b in 0xAE...0xFF { map[b] = UInt32(b); assigned[b] = true }
        var next: UInt32 = 256
        for b in 0..<256 where !assigned[b] { map[b] = next; next += 1 }
        return map.map { Unicode.Scalar($0)! }
    }()

    static let unicodeToByte: [UInt32: UInt8] = {
        var m: [UInt32: UInt8] = [:]
        for (b, s) in byteToUnicode.enumerated() { m[s.value] = UInt8(b) }
        return m
    }()

    // MARK: - Encoding

    /// Token ids for `text`. `addBOS` nil uses the file's `add_bos_token`. User-defined tokens are always
    /// matched verbatim (as llama.cpp does); control tokens such as `<|im_start|>` only when `parseSpecial`.
    public func encode(_ text: String, addBOS: Bool? = nil, parseSpecial: Bool = true) -> [Int32] {
        var out: [Int32] = []
        if addBOS ?? addBOSByDefault, let bos = bosID { out.append(bos) }
        let bytes = Array(text.utf8)
        for fragment in partition(bytes, parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id): out.append(id)
            case .text(let range):
                let scalars = Array(String(decoding: bytes[range], as: UTF8.self).unicodeScalars)
                for word in Self.split(scalars, preTokenizer) { encodeWord(scalars[word], into: &out) }
            }
        }
        return out
    }

    private enum Fragment { case text(Range<Int>), token(Int32) }

    /// Splits special tokens out of the text, longest token first (llama.cpp's `tokenizer_st_partition`).
    private func partition(_ bytes: [UInt8], parseSpecial: Bool) -> [Fragment] {
        var fragments: [Fragment] = bytes.isEmpty ? [] : [.text(0..<bytes.count)]
        for special in specials where special.userDefined || parseSpecial {
            let needle = special.bytes
            var next: [Fragment] = []
            var changed = false
            for fragment in fragments {
                guard case .text(let range) = fragment, range.count >= needle.count else { next.append(fragment); continue }
                var start = range.lowerBound
                var i = range.lowerBound
                let last = range.upperBound - needle.count
                while i <= last {
                    if bytes[i] == needle[0] && bytes[i..<(i + needle.count)].elementsEqual(needle) {
                        if i > start { next.append(.text(start..<i)) }
                        next.append(.token(special.id))
                        changed = true
                        i += needle.count
                        start = i
                    } else {
                        i += 1
                    }
                }
                if start < range.upperBound { next.append(.text(start..<range.upperBound)) }
            }
            if changed { fragments = next }
        }
        return fragments
    }

    /// BPE over one pre-tokenized word.
    private func encodeWord(_ word: ArraySlice<Unicode.Scalar>, into out: inout [Int32]) {
        var bytes: [UInt8] = []
        for s in word { bytes.append(contentsOf: UTF8.encode(s)!) }
        var symbols = bytes.map { byteTokens[Int($0)] }
        // Whole word already a token: the merges always reach it for these vocabularies, but it is cheap.
        while symbols.count > 1 {
            var bestRank = Int32.max, bestIndex = -1, bestResult: Int32 = -1
            for i in 0..<(symbols.count - 1) {
                let l = symbols[i], r = symbols[i + 1]
                guard l >= 0, r >= 0 else { continue }
                if let m = merges[UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))], m.rank < bestRank, m.result >= 0 {
                    bestRank = m.rank; bestIndex = i; bestResult = m.result
                }
            }
            guard bestIndex >= 0 else { break }
            symbols[bestIndex] = bestResult
            symbols.remove(at: bestIndex + 1)
        }
        for s in symbols where s >= 0 { out.append(s) }
    }

    // MARK: - Pre-tokenizers (over Unicode scalars; llama.cpp's hand-written matchers)

    private struct Flags {
        var letter = false, number = false, whitespace = false, present = false
        init() {}
        init(_ s: Unicode.Scalar) {
            present = true
            let p = s.properties
            whitespace = p.isWhitespace
            switch p.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: letter = true
            case .decimalNumber, .letterNumber, .otherNumber: number = true
            default: break
            }
        }
    }

    /// Word ranges (indices into `s`) covering all of `s`.
    static func split(_ s: [Unicode.Scalar], _ pre: PreTokenizer) -> [Range<Int>] {
        switch pre {
        case .gpt2: return splitGPT2(s, 0..<s.count)
        case .qwen2: return splitQwen2(s, 0..<s.count)
        case .starcoder:
            // First isolate every \p{N}; the pieces between them then go through the GPT-2 matcher.
            var out: [Range<Int>] = []
            var start = 0
            for i in 0..<s.count where Flags(s[i]).number {
                if i > start { out += splitGPT2(s, start..<i) }
                out.append(i..<(i + 1))
                start = i + 1
            }
            if start < s.count { out += splitGPT2(s, start..<s.count) }
            return out
        }
    }

    private static func contraction(_ s: [Unicode.Scalar], _ pos: Int, _ end: Int, caseInsensitive: Bool) -> Int? {
        guard s[pos] == "'", pos + 1 < end else { return nil }
        func lower(_ c: Unicode.Scalar) -> Unicode.Scalar {
            caseInsensitive && c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(c.value + 32)! : c
        }
        let a = lower(s[pos + 1])
        if a == "s" || a == "t" || a == "m" || a == "d" { return pos + 2 }
        if pos + 2 < end {
            let b = lower(s[pos + 2])
            if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return pos + 3 }
        }
        return nil
    }

    private static func splitGPT2(_ s: [Unicode.Scalar], _ range: Range<Int>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        let end = range.upperBound
        func flags(_ i: Int) -> Flags { i < end ? Flags(s[i]) : Flags() }
        var pos = range.lowerBound
        var prev = pos
        func emit(_ e: Int) { if e > prev { out.append(prev..<e) }; prev = e; pos = e }
        while pos < end {
            if let e = contraction(s, pos, end, caseInsensitive: false) { emit(e); continue }
            let c = s[pos]
            let f = flags(pos)
            var f2 = c == " " ? flags(pos + 1) : f
            var p = pos
            if f2.letter {  // ` ?\p{L}+`
                if c == " " { p += 1 }
                while f2.letter { p += 1; f2 = flags(p) }
                emit(p); continue
            }
            if f2.number {  // ` ?\p{N}+`
                if c == " " { p += 1 }
                while f2.number { p += 1; f2 = flags(p) }
                emit(p); continue
            }
            if !(f2.whitespace || f2.letter || f2.number) && f2.present {  // ` ?[^\s\p{L}\p{N}]+`
                if c == " " { p += 1 }
                while !(f2.whitespace || f2.letter || f2.number) && f2.present { p += 1; f2 = flags(p) }
                emit(p); continue
            }
            var ws = 0
            while flags(pos + ws).whitespace { ws += 1 }
            if ws > 1 && pos + ws < end { emit(pos + ws - 1); continue }  // `\s+(?!\S)`
            if ws > 0 { emit(pos + ws); continue }                        // `\s+`
            emit(pos + 1)
        }
        return out
    }

    private static func splitQwen2(_ s: [Unicode.Scalar], _ range: Range<Int>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        let end = range.upperBound
        func flags(_ i: Int) -> Flags { i < end ? Flags(s[i]) : Flags() }
        func isCRLF(_ i: Int) -> Bool { i < end && (s[i] == "\r" || s[i] == "\n") }
        var pos = range.lowerBound
        var prev = pos
        func emit(_ e: Int) { if e > prev { out.append(prev..<e) }; prev = e; pos = e }
        while pos < end {
            if let e = contraction(s, pos, end, caseInsensitive: true) { emit(e); continue }
            let c = s[pos]
            let f = flags(pos)
            // `[^\r\n\p{L}\p{N}]?\p{L}+`
            if !(c == "\r" || c == "\n" || f.number), f.letter || flags(pos + 1).letter {
                var p = pos + 1
                while flags(p).letter { p += 1 }
                emit(p); continue
            }
            if f.number { emit(pos + 1); continue }  // `\p{N}`
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            var f2 = c == " " ? flags(pos + 1) : f
            if !(f2.whitespace || f2.letter || f2.number) && f.present {
                var p = pos + (c == " " ? 1 : 0)
                while !(f2.whitespace || f2.letter || f2.number) && f2.present { p += 1; f2 = flags(p) }
                while isCRLF(p) { p += 1 }
                emit(p); continue
            }
            var ws = 0
            var lastNewlineEnd = 0
            while flags(pos + ws).whitespace {
                if isCRLF(pos + ws) { lastNewlineEnd = pos + ws + 1 }
                ws += 1
            }
            if lastNewlineEnd > 0 { emit(lastNewlineEnd); continue }      // `\s*[\r\n]+`
            if ws > 1 && pos + ws < end { emit(pos + ws - 1); continue }   // `\s+(?!\S)`
            if ws > 0 { emit(pos + ws); continue }                         // `\s+`
            emit(pos + 1)
        }
        return out
    }

    // MARK: - Decoding

    /// The bytes a token stands for. Control/unknown tokens give their text only when `renderSpecial`;
    /// unused tokens and ids outside the vocabulary give nothing.
    public func bytes(for id: Int32, renderSpecial: Bool = true) -> [UInt8] {
        guard id >= 0, Int(id) < tokens.count else { return [] }
        switch tokenTypes[Int(id)] {
        case .control, .unknown: return renderSpecial ? tokenBytes[Int(id)] : []
        case .unused: return []
        default: return tokenBytes[Int(id)]
        }
    }

    public func decode(_ ids: [Int32], renderSpecial: Bool = true) -> String {
        var out: [UInt8] = []
        for id in ids { out.append(contentsOf: bytes(for: id, renderSpecial: renderSpecial)) }
        return String(decoding: out, as: UTF8.self)
    }

    public func streamingDecoder(renderSpecial: Bool = true) -> BPEStreamingDecoder {
        BPEStreamingDecoder(tokenizer: self, renderSpecial: renderSpecial)
    }

    /// The token id of an exact token string, if any.
    public func id(of token: String) -> Int32? { tokenToID[token] }
}

/// Turns a stream of token ids into text, holding back a UTF-8 sequence split across tokens until it
/// is complete. Returns whole Unicode scalars (an emoji sequence joined by ZWJ may arrive in parts).
public struct BPEStreamingDecoder: Sendable {
    let tokenizer: BPETokenizer
    let renderSpecial: Bool
    private var pending: [UInt8] = []

    init(tokenizer: BPETokenizer, renderSpecial: Bool) {
        self.tokenizer = tokenizer
        self.renderSpecial = renderSpecial
    }

    /// The text completed by this token (possibly empty).
    public mutating func append(_ id: Int32) -> String {
        pending.append(contentsOf: tokenizer.bytes(for: id, renderSpecial: renderSpecial))
        let cut = Self.completePrefixLength(pending)
        guard cut > 0 else { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Whatever is still held back (an incomplete sequence becomes U+FFFD).
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// The length of `bytes` without a trailing incomplete (but so far valid) UTF-8 sequence.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var i = n - 1
        var continuation = 0
        while i >= 0 && continuation < 4 {
            let b = bytes[i]
            if b & 0xC0 == 0x80 { continuation += 1; i -= 1; continue }
            let need: Int
            if b & 0x80 == 0 { need = 1 } else if b & 0xE0 == 0xC0 { need = 2 } else if b & 0xF0 == 0xE0 { need = 3 } else if b & 0xF8 == 0xF0 { need = 4 } else { return n }
            return continuation + 1 < need ? i : n
        }
        return n  // only continuation bytes (or too many): invalid, let String repair it
    }
}
