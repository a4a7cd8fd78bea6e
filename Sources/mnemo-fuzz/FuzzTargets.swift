import CSQLite
import Foundation
import MnemoIngest
import MnemoModels
import MnemoServer
import MnemoTools

/// One parser under fuzzing: bytes in, no crash out. A target that finds its input breaks a property
/// (not merely rejected) calls `violation`, which aborts like a crash so that libFuzzer keeps the input.
struct FuzzTarget: Sendable {
    let name: String
    let summary: String
    /// libFuzzer's -max_len for this target.
    let maxLength: Int
    let run: @Sendable (UnsafeRawBufferPointer) -> Void
}

func violation(_ target: String, _ message: String) -> Never {
    FileHandle.standardError.write(Data("mnemo-fuzz \(target): property violated: \(message)\n".utf8))
    abort()
}

/// Where targets that read files write their input (tmpfs when there is one).
let scratchDirectory: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let dir = (base as NSString).appendingPathComponent("mnemo-fuzz-\(getpid())")
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: scratchDirectory) }
    return dir
}()

func scratchFile(_ name: String, _ bytes: UnsafeRawBufferPointer) -> String {
    let path = (scratchDirectory as NSString).appendingPathComponent(name)
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

/// The BPE vocabularies of the tokenizer tests (llama.cpp's vocab-only GGUF files), found from the
/// working directory (the package root under `make test` and the fuzz script) or `MNEMO_FUZZ_VOCAB_DIR`.
let bpeTokenizers: [BPETokenizer] = {
    let dir = ProcessInfo.processInfo.environment["MNEMO_FUZZ_VOCAB_DIR"] ?? "Tests/MnemoModelsTests/Resources/llama-vocab"
    let tokenizers = ["ggml-vocab-qwen2.gguf", "ggml-vocab-gpt-2.gguf"].compactMap {
        try? BPETokenizer(path: (dir as NSString).appendingPathComponent($0))
    }
    if tokenizers.count != 2 {
        FileHandle.standardError.write(Data("mnemo-fuzz bpe: cannot read the vocabularies in \(dir) (run from the package root or set MNEMO_FUZZ_VOCAB_DIR)\n".utf8))
        exit(2)
    }
    return tokenizers
}()

/// A small WordPiece vocabulary with every rule of the pipeline in reach: special tokens, letters,
/// digits and punctuation with their `##` continuations, a few whole words, accents and a CJK ideograph.
let wordPieceTokenizer: WordPieceTokenizer = {
    var vocab: [String] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    let characters: String = "abcdefghijklmnopqrstuvwxyz0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    let singles: [String] = characters.map { String($0) }
    vocab += singles
    vocab += singles.map { "##" + $0 }
    vocab += ["the", "un", "##able", "##ing", "hello", "world", "memory", "中", "日", "é", "##é"]
    var ids: [String: Int] = [:]
    for (id, token) in vocab.enumerated() { ids[token] = id }
    let model: [String: Any] = ["type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                                "max_input_chars_per_word": 100, "vocab": ids]
    let normalizer: [String: Any] = ["type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "lowercase": true]
    let added: [[String: Any]] = [2, 3, 4].map { ["id": $0, "content": vocab[$0], "special": true] }
    let json: [String: Any] = ["model": model, "normalizer": normalizer, "added_tokens": added]
    let data = (try? JSONSerialization.data(withJSONObject: json)) ?? Data()
    let path = data.withUnsafeBytes { scratchFile("tokenizer.json", $0) }
    do { return try WordPieceTokenizer(tokenizerJSON: path, maxLength: 128) } catch {
        FileHandle.standardError.write(Data("mnemo-fuzz wordpiece: the built-in vocabulary does not load: \(error)\n".utf8))
        exit(2)
    }
}()

/// A small database for the SQL guard: two related tables, an index, a view and a trigger.
let sqlFixture: (path: String, bytes: Data) = {
    let path = (scratchDirectory as NSString).appendingPathComponent("fixture.sqlite")
    var db: OpaquePointer?
    let sql = """
        CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, joined TEXT);
        CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total REAL, note BLOB);
        CREATE INDEX orders_by_customer ON orders(customer_id);
        CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
        CREATE TRIGGER no_negative BEFORE INSERT ON orders WHEN NEW.total < 0 BEGIN SELECT RAISE(ABORT, 'negative'); END;
        INSERT INTO customers VALUES (1, 'Ada', 'London', '2024-01-02'), (2, 'Grace', 'Arlington', NULL), (3, 'Zoë', 'Zürich', '2025-12-31');
        INSERT INTO orders VALUES (1, 1, 250.5, x'00ff'), (2, 1, 12, NULL), (3, 3, 99.99, 'text');
        """
    guard sqlite3_open(path, &db) == SQLITE_OK, sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
        FileHandle.standardError.write(Data("mnemo-fuzz sql: cannot create the fixture database at \(path)\n".utf8))
        exit(2)
    }
    sqlite3_close(db)
    return (path, FileManager.default.contents(atPath: path) ?? Data())
}()

nonisolated(unsafe) let sqlDatabase: ReadOnlyDatabase = {  // one fuzz thread
    var limits = ReadOnlyDatabase.Limits()
    limits.timeout = .milliseconds(300)
    limits.maxRows = 50
    do { return try ReadOnlyDatabase(path: sqlFixture.path, limits: limits) } catch {
        FileHandle.standardError.write(Data("mnemo-fuzz sql: cannot open the fixture: \(error)\n".utf8))
        exit(2)
    }
}()

let fuzzTargets: [FuzzTarget] = [
    FuzzTarget(name: "gguf", summary: "GGUF reader, decoder config, BPE tokenizer and model loader, one forward step", maxLength: 64 << 10) { bytes in
        let file = MappedFile(copying: bytes, path: "fuzz.gguf")
        guard let gguf = try? GGUFFile(file: file) else { return }
        for key in gguf.metadataKeys {
            _ = try? gguf.string(key); _ = try? gguf.int(key); _ = try? gguf.float(key); _ = try? gguf.bool(key)
            _ = try? gguf.stringArray(key); _ = try? gguf.intArray(key)
        }
        var touched: UInt8 = 0
        for name in gguf.tensorNames {
            guard let b = try? gguf.bytes(of: name), !b.isEmpty else { continue }
            touched &+= b[0] &+ b[b.count - 1]  // a range past the file would read outside the copy
        }
        if let tokenizer = try? BPETokenizer(gguf: gguf) {
            _ = tokenizer.decode(tokenizer.encode("Hello wörld 42 <|im_start|>user"))
        }
        if let model = try? DecoderModel(gguf: gguf) {
            let state = model.makeState(capacity: 4)
            _ = try? model.forward([.token(0), .token(Int32(model.config.vocabSize - 1))], state: state, logits: .all)
        }
        withExtendedLifetime(touched) {}
    },
    FuzzTarget(name: "safetensors", summary: "safetensors header and every tensor read as float32", maxLength: 16 << 10) { bytes in
        let path = scratchFile("fuzz.safetensors", bytes)
        guard let file = try? SafeTensorsFile(path: path) else { return }
        for (name, entry) in file.entries.sorted(by: { $0.key < $1.key }) {
            _ = try? file.float32(name, shape: entry.shape)
        }
        _ = try? file.finish()
    },
    FuzzTarget(name: "wordpiece", summary: "BERT normalizer, pre-tokenizer and WordPiece over any text", maxLength: 4 << 10) { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        let ids = wordPieceTokenizer.encode(text)
        guard ids.count <= wordPieceTokenizer.maxLength, ids.first == wordPieceTokenizer.clsID, ids.last == wordPieceTokenizer.sepID else {
            violation("wordpiece", "\(ids.count) ids, not [CLS] … [SEP] within \(wordPieceTokenizer.maxLength)")
        }
        _ = wordPieceTokenizer.tokenStrings(ids)
        _ = wordPieceTokenizer.count(text)
    },
    FuzzTarget(name: "bpe", summary: "byte-level BPE (Qwen2 and GPT-2 pre-tokenizers): encode, decode, stream", maxLength: 4 << 10) { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        for tokenizer in bpeTokenizers {
            _ = tokenizer.encode(text, addBOS: true, parseSpecial: true)
            // Byte-level BPE loses nothing: plain text comes back byte for byte, whole or streamed.
            let ids = tokenizer.encode(text, addBOS: false, parseSpecial: false)
            let decoded = tokenizer.decode(ids, renderSpecial: true)
            guard decoded == text else { violation("bpe", "\(tokenizer.path): decode(encode(text)) differs from the text") }
            var stream = tokenizer.streamingDecoder()
            var streamed = ""
            for id in ids { streamed += stream.append(id) }
            streamed += stream.finish()
            guard streamed == text else { violation("bpe", "\(tokenizer.path): the streamed text differs from the text") }
        }
    },
    FuzzTarget(name: "html", summary: "HTML text extraction through the document reader", maxLength: 16 << 10) { bytes in
        let path = scratchFile("fuzz.html", bytes)
        if let (document, _) = try? DocumentReader.read(path: path) {
            for segment in document.segments where segment.byteRange.upperBound > bytes.count {
                violation("html", "segment range \(segment.byteRange) past the \(bytes.count)-byte file")
            }
        }
    },
    FuzzTarget(name: "jsonl", summary: "JSON Lines records through the document reader", maxLength: 16 << 10) { bytes in
        let path = scratchFile("fuzz.jsonl", bytes)
        if let (document, _) = try? DocumentReader.read(path: path) {
            for segment in document.segments where segment.byteRange.upperBound > bytes.count || segment.text.isEmpty {
                violation("jsonl", "segment \(segment.byteRange) of a \(bytes.count)-byte file, \(segment.text.count) characters")
            }
        }
    },
    FuzzTarget(name: "calculator", summary: "the calculator's parser and exact evaluation", maxLength: 1 << 10) { bytes in
        let calculator = Calculator()
        if let result = try? calculator.evaluate(String(decoding: bytes, as: UTF8.self)) {
            _ = result.decimal()
            _ = result.description
        }
    },
    FuzzTarget(name: "sql", summary: "the read-only SQL guard over a fixture database (which must not change)", maxLength: 2 << 10) { bytes in
        _ = try? sqlDatabase.query(String(decoding: bytes, as: UTF8.self))
        guard FileManager.default.contents(atPath: sqlFixture.path) == sqlFixture.bytes else {
            violation("sql", "the statement changed the database file")
        }
    },
    FuzzTarget(name: "http-body", summary: "HTTP API request bodies (first byte picks chat, embeddings, add, search)", maxLength: 8 << 10) { bytes in
        guard let selector = bytes.first else { return }
        let kind = RequestDecoding.Body.allCases[Int(selector) % RequestDecoding.Body.allCases.count]
        do {
            try RequestDecoding.check(Data(bytes.dropFirst()), as: kind)
        } catch let error as APIError {
            guard (400..<500).contains(error.status.code) else {
                violation("http-body", "status \(error.status.code) for a client's body: \(error.message)")
            }
        } catch {
            violation("http-body", "an error that is not an APIError escaped: \(error)")
        }
    },
    FuzzTarget(name: "jsonrpc", summary: "MCP's JSON-RPC message check (parse, request shape, params)", maxLength: 8 << 10) { bytes in
        guard let response = RequestDecoding.jsonRPCRejection(Data(bytes)) else { return }
        guard let object = (try? JSONSerialization.jsonObject(with: response)) as? [String: Any],
              object["jsonrpc"] as? String == "2.0", let error = object["error"] as? [String: Any],
              let code = error["code"] as? Int, [-32700, -32600, -32602].contains(code), object.keys.contains("id")
        else { violation("jsonrpc", "the rejection is not a JSON-RPC error response: \(String(decoding: response, as: UTF8.self))") }
    },
]
