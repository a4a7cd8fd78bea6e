import Foundation
import Testing
@testable import MnemoModels

private let smolPath = (ModelLocator.modelsDirectory as NSString).appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
private let qwenPath = (ModelLocator.modelsDirectory as NSString).appendingPathComponent("Qwen2.5-Coder-0.5B-Instruct.gguf")

/// llama.cpp's vocab-only GGUF files and their tokenizer test vectors (`.inp` / `.out`).
private func llamaVocabDirectory() -> URL {
    if let url = Bundle.module.url(forResource: "llama-vocab", withExtension: nil) { return url }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources/llama-vocab")
}

// MARK: - A tiny GGUF writer for synthetic files

private struct GGUFWriter {
    var data = Data()
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func str(_ s: String) { u64(UInt64(s.utf8.count)); data.append(contentsOf: Array(s.utf8)) }
    mutating func pad(to alignment: Int) { while data.count % alignment != 0 { data.append(0) } }
}

@Suite(.tags(.realModel), .needsModels) struct GGUFTests {
    // MARK: Synthetic files

    @Test func GGUFReadsEveryValueTypeNestedArraysAndAlignment() throws {
        var w = GGUFWriter()
        w.data.append(contentsOf: Array("GGUF".utf8)); w.u32(3)
        w.u64(2)   // tensors
        w.u64(10)  // key/values
        w.str("general.alignment"); w.u32(4); w.u32(64)
        w.str("a.u8"); w.u32(0); w.data.append(200)
        w.str("a.i16"); w.u32(3); w.data.append(contentsOf: [0xFE, 0xFF])  // -2
        w.str("a.f32"); w.u32(6); w.u32(Float(1.5).bitPattern)
        w.str("a.f64"); w.u32(12); w.u64(Double(-2.25).bitPattern)
        w.str("a.bool"); w.u32(7); w.data.append(1)
        w.str("a.i64"); w.u32(11); w.u64(UInt64(bitPattern: -7))
        w.str("a.str"); w.u32(8); w.str("héllo")
        w.str("a.ints"); w.u32(9); w.u32(5); w.u64(3); w.u32(1); w.u32(UInt32(bitPattern: -2)); w.u32(3)
        w.str("a.nested"); w.u32(9); w.u32(9); w.u64(2)
        w.u32(8); w.u64(2); w.str("x"); w.str("yz")
        w.u32(8); w.u64(0)
        // Tensors: Q4_0 [64, 2] = 4 blocks of 18 bytes, F32 [3] at the next multiple of 64.
        w.str("w.q"); w.u32(2); w.u64(64); w.u64(2); w.u32(2); w.u64(0)
        w.str("w.f"); w.u32(1); w.u64(3); w.u32(0); w.u64(128)
        w.pad(to: 64)
        let dataStart = w.data.count
        w.data.append(Data(repeating: 7, count: 72)); w.pad(to: 64)
        w.data.append(contentsOf: [1.0, 2.0, 3.0].flatMap { (f: Float) in withUnsafeBytes(of: f) { Array($0) } })

        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("synthetic.gguf")
        try w.data.write(to: url)
        let f = try GGUFFile(path: url.path)
        #expect(f.version == 3)
        #expect(f.alignment == 64)
        #expect(f.dataOffset == dataStart)
        #expect(try f.int("a.u8") == 200)
        #expect(try f.int("a.i16") == -2)
        #expect(try f.int("a.i64") == -7)
        #expect(try f.float("a.f32") == 1.5)
        #expect(try f.float("a.f64") == -2.25)
        #expect(try f.bool("a.bool") == true)
        #expect(try f.string("a.str") == "héllo")
        #expect(try f.intArray("a.ints") == [1, -2, 3])
        #expect(f.metadata["a.nested"] == .array(.array([.string(["x", "yz"]), .string([])])))
        #expect(try f.string("missing") == nil)
        let wrong = #expect(throws: ModelError.self) { try f.string("a.u8") }
        #expect(wrong?.message.contains("'a.u8' is uint8, expected string") == true)
        #expect(f.metadataKeys.first == "general.alignment")
        let q = try #require(f.tensors["w.q"])
        #expect(q.type == .q4_0 && q.shape == [64, 2] && q.byteCount == 72 && q.byteRange.lowerBound == dataStart)
        let fl = try #require(f.tensors["w.f"])
        #expect(fl.byteRange == (dataStart + 128)..<(dataStart + 140))
        let floats = try f.bytes(of: "w.f").withMemoryRebound(to: Float.self) { Array($0) }
        #expect(floats == [1, 2, 3])
        #expect(f.tensorNames == ["w.q", "w.f"])
    }

    /// A name read from the file reaches the error message with its control characters escaped: a
    /// hostile file cannot move the cursor or recolour the terminal through `mnemo`'s errors.
    @Test func GGUFErrorsEscapeControlCharactersFromTheFile() throws {
        var w = GGUFWriter()
        w.data.append(contentsOf: Array("GGUF".utf8)); w.u32(3)
        w.u64(1); w.u64(0)
        w.str("w.\u{1B}[2J\u{202E}evil\n"); w.u32(1); w.u64(32); w.u32(99); w.u64(0)  // an unknown ggml type
        w.pad(to: 32)
        w.data.append(Data(repeating: 0, count: 64))
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("escape.gguf")
        try w.data.write(to: url)
        let error = #expect(throws: ModelError.self) { try GGUFFile(path: url.path) }
        let message = try #require(error?.message)
        #expect(message.contains("tensor 'w.\\u{1b}[2J\\u{202e}evil\\u{a}' has unknown ggml type 99"), "\(message)")
        #expect(!message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x202E })
    }

    @Test func GGUFTypeSizesMatchGGML() {
        let expected: [GGMLType: (Int, Int)] = [
            .f32: (1, 4), .f16: (1, 2), .q4_0: (32, 18), .q4_1: (32, 20), .q5_0: (32, 22), .q5_1: (32, 24),
            .q8_0: (32, 34), .q2_K: (256, 84), .q3_K: (256, 110), .q4_K: (256, 144), .q5_K: (256, 176),
            .q6_K: (256, 210), .q8_K: (256, 292),
        ]
        for (t, (block, size)) in expected {
            #expect(t.blockSize == block && t.typeSize == size, "\(t)")
        }
    }

    // MARK: Real files

    @Test func GGUFRealModelSmolLM2Metadata() throws {
        let f = try GGUFFile(path: smolPath)
        #expect(f.architecture == "llama")
        #expect(try f.int("llama.block_count") == 30)
        #expect(try f.int("llama.context_length") == 8192)
        #expect(try f.int("llama.embedding_length") == 576)
        #expect(try f.int("llama.feed_forward_length") == 1536)
        #expect(try f.int("llama.attention.head_count") == 9)
        #expect(try f.int("llama.attention.head_count_kv") == 3)
        #expect(try f.float("llama.rope.freq_base") == 100_000)
        #expect(try f.stringArray("tokenizer.ggml.tokens")?.count == 49152)
        #expect(f.tensors.count == 272)
        let counts = Dictionary(grouping: f.tensors.values, by: \.type).mapValues(\.count)
        #expect(counts == [.q4_1: 210, .f32: 61, .q8_0: 1])
        #expect(f.tensors["token_embd.weight"]?.type == .q8_0)
        #expect(f.tensors["token_embd.weight"]?.shape == [576, 49152])
        try checkTensorRanges(f)
    }

    @Test func GGUFRealModelQwenMetadata() throws {
        let f = try GGUFFile(path: qwenPath)
        #expect(f.architecture == "qwen2")
        #expect(try f.int("qwen2.block_count") == 24)
        #expect(try f.int("qwen2.context_length") == 32768)
        #expect(try f.int("qwen2.embedding_length") == 896)
        #expect(try f.int("qwen2.attention.head_count") == 14)
        #expect(try f.int("qwen2.attention.head_count_kv") == 2)
        #expect(try f.float("qwen2.rope.freq_base") == 1_000_000)
        #expect(try f.stringArray("tokenizer.ggml.tokens")?.count == 151_936)
        #expect(f.tensors.count == 291)
        let counts = Dictionary(grouping: f.tensors.values, by: \.type).mapValues(\.count)
        #expect(counts == [.q5_0: 133, .f32: 121, .q8_0: 13, .q6_K: 12, .q4_K: 12])
        #expect(f.tensors["blk.0.attn_q.bias"]?.shape == [896])
        try checkTensorRanges(f)
    }

    private func checkTensorRanges(_ f: GGUFFile) throws {
        let sorted = f.tensors.values.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }
        var end = f.dataOffset
        for t in sorted {
            #expect(t.byteRange.lowerBound >= end, "\(t.name) overlaps the tensor before it")
            #expect(t.byteRange.upperBound <= f.fileSize, "\(t.name) runs past the file")
            #expect(t.byteRange.lowerBound % f.alignment == 0)
            #expect(t.byteCount == t.elementCount / t.type.blockSize * t.type.typeSize)
            #expect(f.bytes(of: t).count == t.byteCount)
            end = t.byteRange.upperBound
        }
        #expect(end <= f.fileSize)
    }

    // MARK: Corruption

    @Test func GGUFRealModelTruncatedCopiesThrow() throws {
        let f = try GGUFFile(path: smolPath)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try FileHandle(forReadingFrom: URL(fileURLWithPath: smolPath))
        defer { try? source.close() }
        let headSize = f.dataOffset + 64
        let head = try source.read(upToCount: headSize) ?? Data()
        #expect(head.count == headSize)
        let cuts = [0, 3, 4, 10, 23, 24, 30, 100, 1000, f.tensorInfosOffset / 2, f.tensorInfosOffset - 1, f.tensorInfosOffset,
                    f.tensorInfosOffset + 10, (f.tensorInfosOffset + f.dataOffset) / 2, f.dataOffset - 1, f.dataOffset, f.dataOffset + 64]
        for n in cuts {
            let url = dir.appendingPathComponent("cut-\(n).gguf")
            try head.prefix(n).write(to: url)
            let e = #expect(throws: ModelError.self, "prefix of \(n) bytes") { try GGUFFile(path: url.path) }
            #expect(e?.message.contains(url.path) == true, "\(e?.message ?? "")")
        }
        // One cut inside the data: a full copy shortened by a byte.
        let url = dir.appendingPathComponent("data-cut.gguf")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: smolPath), to: url)
        let h = try FileHandle(forWritingTo: url)
        try h.truncate(atOffset: UInt64(f.fileSize - 1))
        try h.close()
        let e = #expect(throws: ModelError.self) { try GGUFFile(path: url.path) }
        #expect(e?.message.contains(url.path) == true)
        #expect(e?.message.contains("lies outside the file") == true, "\(e?.message ?? "")")
    }

    /// A weight whose block scale is NaN (or a whole tensor of 0xFF bytes, all NaN halves) is refused when
    /// the model loads, naming the tensor, instead of generating garbage.
    @Test func GGUFRealModelNonFiniteWeightsAreRefused() throws {
        let f = try GGUFFile(path: smolPath)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A quantised matrix (its first block's scale) and an F32 norm vector (one value).
        let matrix = try #require(f.tensors.values.filter { $0.type != .f32 && $0.name.hasPrefix("blk.3.") }.min { $0.name < $1.name })
        let norm = try #require(f.tensors["blk.2.attn_norm.weight"])
        for (tensor, bytes, at) in [(matrix, [UInt8](repeating: 0xFF, count: 2), 0), (norm, [0, 0, 0x80, 0x7F], 1)] {
            let url = dir.appendingPathComponent("nan-\(tensor.name).gguf")
            var data = try Data(contentsOf: URL(fileURLWithPath: smolPath))
            data.replaceSubrange((tensor.byteRange.lowerBound + at * 4)..<(tensor.byteRange.lowerBound + at * 4 + bytes.count), with: bytes)
            try data.write(to: url)
            let e = #expect(throws: ModelError.self) { try LanguageModel(path: url.path) }
            #expect(e?.message.contains("'\(tensor.name)'") == true, "\(e?.message ?? "")")
            #expect(e?.message.contains("not a finite number") == true, "\(e?.message ?? "")")
        }
        // The whole weight section 0xFF, as a probe once made: refused at the first tensor read.
        var data = try Data(contentsOf: URL(fileURLWithPath: smolPath))
        data.replaceSubrange(f.dataOffset..<data.count, with: [UInt8](repeating: 0xFF, count: data.count - f.dataOffset))
        let url = dir.appendingPathComponent("all-ff.gguf")
        try data.write(to: url)
        let e = #expect(throws: ModelError.self) { try LanguageModel(path: url.path) }
        #expect(e?.message.contains("not a finite number") == true, "\(e?.message ?? "")")
    }

    @Test func GGUFRealModelCorruptedHeadersThrow() throws {
        let f = try GGUFFile(path: smolPath)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try FileHandle(forReadingFrom: URL(fileURLWithPath: smolPath))
        defer { try? source.close() }
        let head = try #require(try source.read(upToCount: f.dataOffset))

        func put32(_ d: inout Data, _ at: Int, _ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.replaceSubrange(at..<(at + 4), with: $0) } }
        func put64(_ d: inout Data, _ at: Int, _ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.replaceSubrange(at..<(at + 8), with: $0) } }
        func offset(after key: String) throws -> Int {
            let r = try #require(head.range(of: Data(key.utf8)))
            return r.upperBound
        }
        let tokensKey = try offset(after: "tokenizer.ggml.tokens")
        // First tensor info: name length, name, n_dims, dims, type, offset.
        let t0 = f.tensorInfosOffset
        let nameLength = Int(head.subdata(in: t0..<(t0 + 8)).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let t0Dims = t0 + 8 + nameLength
        let t0NDims = Int(head.subdata(in: t0Dims..<(t0Dims + 4)).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
        let t0Type = t0Dims + 4 + 8 * t0NDims
        let firstName = try #require(f.tensorNames.first)

        let cases: [(String, (inout Data) -> Void, String)] = [
            ("bad magic", { $0[0] = 0x47; $0[3] = 0x00 }, "bad magic"),
            ("version 7", { put32(&$0, 4, 7) }, "version 7"),
            ("version 1", { put32(&$0, 4, 1) }, "version 1"),
            ("huge tensor count", { put64(&$0, 8, 1 << 40) }, "absurd"),
            ("large tensor count", { put64(&$0, 8, 1 << 23) }, "tensor infos cannot fit"),
            ("huge kv count", { put64(&$0, 16, 1 << 23) }, "metadata entries cannot fit"),
            ("huge key length", { put64(&$0, 24, UInt64.max - 5) }, "claims"),
            ("huge string length", { put64(&$0, 24 + 8 + 20 + 4, 1 << 50) }, "claims"),
            ("invalid type tag", { put32(&$0, 24 + 8 + 20, 99) }, "invalid value type 99"),
            ("invalid array element type", { put32(&$0, tokensKey + 4, 42) }, "invalid value type 42"),
            ("huge array count", { put64(&$0, tokensKey + 8, 1 << 60) }, "cannot fit"),
            ("too many dims", { put32(&$0, t0Dims, 9) }, "9 dimensions"),
            ("unknown tensor type", { put32(&$0, t0Type, 99) }, "'\(firstName)' has unknown ggml type 99"),
            ("misaligned offset", { put64(&$0, t0Type + 4, 3) }, "alignment"),
        ]
        for (name, mutate, expected) in cases {
            var copy = head
            mutate(&copy)
            let url = dir.appendingPathComponent("\(name.replacingOccurrences(of: " ", with: "-")).gguf")
            try copy.write(to: url)
            let e = #expect(throws: ModelError.self, "\(name)") { try GGUFFile(path: url.path) }
            #expect(e?.message.contains(url.path) == true, "\(name): \(e?.message ?? "")")
            #expect(e?.message.contains(expected) == true, "\(name): \(e?.message ?? "")")
        }
    }

    // MARK: Tokenizer against llama.cpp's test vectors

    @Test(arguments: ["gpt-2", "starcoder", "qwen2"])
    func GGUFTokenizerMatchesLlamaCpp(vocab: String) throws {
        let dir = llamaVocabDirectory()
        let tokenizer = try BPETokenizer(path: dir.appendingPathComponent("ggml-vocab-\(vocab).gguf").path)
        let inp = try String(contentsOf: dir.appendingPathComponent("ggml-vocab-\(vocab).gguf.inp"), encoding: .utf8)
        let out = try String(contentsOf: dir.appendingPathComponent("ggml-vocab-\(vocab).gguf.out"), encoding: .utf8)
        var cases = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        if cases.last == "" { cases.removeLast() }
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(cases.count >= 40)
        #expect(lines.count >= cases.count)
        var failures = 0
        for (i, text) in cases.enumerated() {
            let expected = lines[i].split(separator: " ").compactMap { Int32($0) }
            let got = tokenizer.encode(text, addBOS: false, parseSpecial: false)
            if got != expected { failures += 1 }
            #expect(got == expected, "\(vocab) case \(i) \(text.debugDescription)")
        }
        #expect(failures == 0)
    }

    @Test func GGUFTokenizerReadsVocabOnlyFile() throws {
        let file = try GGUFFile(path: llamaVocabDirectory().appendingPathComponent("ggml-vocab-qwen2.gguf").path)
        #expect(file.tensors.isEmpty)
        let t = try BPETokenizer(gguf: file)
        #expect(t.preTokenizer == .qwen2)
        #expect(t.vocabularySize > 150_000)
    }

    // MARK: Real tokenizers

    static let tricky = [
        "Hello world", " leading spaces", "   three", "\n\n", "trailing  \n", "tabs\tand\r\nCRLF",
        "emoji 🦙🤗 and 👨‍👩‍👧", "日本語のテキスト", "中文字符", "한국어", "numbers 12345 and 3.14159",
        "I'm we'LL they've", "code: func f(x: Int) -> Int { return x * 2 }", "<|im_start|>user\nhi<|im_end|>",
        "mixed Ünïcödé ñ", "", " ", "a",
    ]

    @Test func GGUFRealModelTokenizerRoundTrip() throws {
        for path in [smolPath, qwenPath] {
            let t = try BPETokenizer(path: path)
            for s in Self.tricky {
                let ids = t.encode(s, addBOS: false, parseSpecial: true)
                #expect(t.decode(ids) == s, "\(path): \(s.debugDescription) → \(ids)")
            }
        }
    }

    @Test func GGUFRealModelTokenizerSpecialTokens() throws {
        let smol = try BPETokenizer(path: smolPath)
        #expect(smol.preTokenizer == .starcoder)
        #expect(smol.bosID == 1 && smol.eosID == 2)
        let start = try #require(smol.id(of: "<|im_start|>"))
        let end = try #require(smol.id(of: "<|im_end|>"))
        let ids = smol.encode("<|im_start|>user\nhi<|im_end|>", addBOS: false, parseSpecial: true)
        #expect(ids.first == start && ids.last == end)
        let plain = smol.encode("<|im_start|>", addBOS: false, parseSpecial: false)
        #expect(!plain.contains(start) && plain.count > 1)
        #expect(smol.decode(ids, renderSpecial: false) == "user\nhi")
        #expect(smol.encode("hi", addBOS: true, parseSpecial: false).first == 1)
        // Digits are split one by one (the smollm pre-tokenizer).
        let digits = smol.encode("12345", addBOS: false, parseSpecial: false)
        #expect(digits.count == 5)

        let qwen = try BPETokenizer(path: qwenPath)
        #expect(qwen.preTokenizer == .qwen2)
        #expect(qwen.addBOSByDefault == false)
        #expect(qwen.encode("<|im_start|>user\nhi<|im_end|>", parseSpecial: true).first == 151_644)
        #expect(qwen.encode("<|im_start|>", parseSpecial: true) == [151_644])
    }

    @Test func GGUFRealModelStreamingDetokenizerHoldsBackSplitUTF8() throws {
        let t = try BPETokenizer(path: smolPath)
        // The llama emoji as its four byte tokens.
        let byteIDs = try Array("🦙".utf8).map { b in
            try #require(t.id(of: String(Character(BPETokenizer.byteToUnicode[Int(b)]))))
        }
        var d = t.streamingDecoder()
        #expect(d.append(t.encode("a", addBOS: false)[0]) == "a")
        #expect(d.append(byteIDs[0]) == "")
        #expect(d.append(byteIDs[1]) == "")
        #expect(d.append(byteIDs[2]) == "")
        #expect(d.append(byteIDs[3]) == "🦙")
        #expect(d.finish() == "")

        // A natural encoding: pieces never contain a replacement character and concatenate to the text.
        for s in ["emoji 🦙🤗 and 👨‍👩‍👧 日本語", "中文字符 한국어 Ünïcödé"] {
            var stream = t.streamingDecoder()
            var pieces: [String] = []
            for id in t.encode(s, addBOS: false) { pieces.append(stream.append(id)) }
            pieces.append(stream.finish())
            #expect(pieces.joined() == s)
            #expect(!pieces.contains { $0.contains("\u{FFFD}") })
        }
        // An invalid tail is repaired at the end rather than held forever.
        var bad = t.streamingDecoder()
        #expect(bad.append(byteIDs[0]) == "")
        #expect(bad.finish() == "\u{FFFD}")
    }
}
