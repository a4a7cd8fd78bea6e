import Foundation
import Testing
@testable import MnemoModels

/// Fixtures made by Resources/generate_fixtures.py with sentence-transformers (the reference).
struct EncoderFixtures: Decodable {
    struct Case: Decodable {
        let text: String
        let ids: [Int32]
        let embedding: [Float]
    }
    let model: String
    let cases: [Case]

    static func load() throws -> EncoderFixtures {
        guard let url = Bundle.module.url(forResource: "encoder_fixtures", withExtension: "json") else {
            throw ModelError(.fileNotFound, "encoder_fixtures.json missing from the test bundle")
        }
        return try JSONDecoder().decode(EncoderFixtures.self, from: Data(contentsOf: url))
    }
}

@Suite(.tags(.realModel), .needsModels) struct EncoderRealModelTests {
    @Test func tokenIDsMatchSentenceTransformers() throws {
        let encoder = try realEncoder.get()
        let fixtures = try EncoderFixtures.load()
        #expect(fixtures.cases.count >= 20)
        for c in fixtures.cases {
            #expect(encoder.tokenizer.encode(c.text) == c.ids, "ids differ for \(c.text.debugDescription)")
        }
    }

    @Test func embeddingsMatchSentenceTransformers() throws {
        let encoder = try realEncoder.get()
        let fixtures = try EncoderFixtures.load()
        // Batched exactly as a user's file would be: several texts per forward pass.
        let vectors = try encoder.embed(fixtures.cases.map(\.text), batchSize: 8)
        for (c, v) in zip(fixtures.cases, vectors) {
            #expect(v.count == 384)
            let cos = cosine(v, c.embedding)
            #expect(cos >= 0.9999, "cosine \(cos) for \(c.text.debugDescription)")
        }
    }

    @Test func batchingDoesNotChangeVectors() throws {
        let encoder = try realEncoder.get()
        let texts = ["short", "a somewhat longer sentence about memory and vectors", "x", "Mnemo keeps one vector per sentence."]
        let alone = try texts.map { try encoder.embed([$0])[0] }
        let together = try encoder.embed(texts, batchSize: 4)
        for (a, b) in zip(alone, together) { #expect(cosine(a, b) > 0.999999) }
    }

    @Test func referencePairCosine() throws {
        let encoder = try realEncoder.get()
        let v = try encoder.embed(["The cat sits on the mat.", "A feline is resting on a rug."])
        #expect(abs(cosine(v[0], v[1]) - 0.57349) < 1e-4)
    }

    @Test func truncatesAt256Tokens() throws {
        let encoder = try realEncoder.get()
        let long = String(repeating: "memory ", count: 400)
        let ids = encoder.tokenizer.encode(long)
        #expect(ids.count == 256)
        #expect(ids.first == 101 && ids.last == 102)
    }
}

@Suite(.tags(.realModel), .needsModels) struct EncoderBadFilesTests {
    /// A copy of the installed encoder directory (symlinked files), with one file replaced.
    func copyOfEncoder(replacing file: String, with data: Data?) throws -> URL {
        let dir = try temporaryDirectory()
        let source = URL(fileURLWithPath: installedEncoderDirectory)
        for name in ["config.json", "tokenizer.json", "model.safetensors", "sentence_bert_config.json"] {
            try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent(name), withDestinationURL: source.appendingPathComponent(name))
        }
        let target = dir.appendingPathComponent(file)
        try FileManager.default.removeItem(at: target)
        if let data { try data.write(to: target) }
        return dir
    }

    @Test func missingDirectory() {
        let error = #expect(throws: ModelError.self) { try SentenceEncoder(directory: "/nonexistent/encoder") }
        #expect(error?.message.contains("/nonexistent/encoder") == true)
    }

    @Test func missingModelFileRealModel() throws {
        let dir = try copyOfEncoder(replacing: "model.safetensors", with: nil)
        defer { try? FileManager.default.removeItem(at: dir) }
        let error = #expect(throws: ModelError.self) { try SentenceEncoder(directory: dir.path) }
        #expect(error?.code == .fileNotFound)
        #expect(error?.message.contains("model.safetensors") == true)
    }

    @Test func truncatedModelFileRealModel() throws {
        let real = try Data(contentsOf: URL(fileURLWithPath: installedEncoderDirectory).appendingPathComponent("model.safetensors"))
        for cut in [4, 5000, real.count / 2] {
            let dir = try copyOfEncoder(replacing: "model.safetensors", with: real.prefix(cut))
            defer { try? FileManager.default.removeItem(at: dir) }
            let error = #expect(throws: ModelError.self) { try SentenceEncoder(directory: dir.path) }
            #expect(error?.message.contains("model.safetensors") == true, "cut at \(cut): \(error?.message ?? "")")
        }
    }

    /// One NaN in the middle of the weights: the encoder refuses the file, naming it and the tensor,
    /// instead of embedding every text as NaN.
    @Test func nonFiniteWeightIsRefusedRealModel() throws {
        var real = try Data(contentsOf: URL(fileURLWithPath: installedEncoderDirectory).appendingPathComponent("model.safetensors"))
        let headerLength = real.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let dataStart = 8 + headerLength
        let at = dataStart + ((real.count - dataStart) / 2) & ~3
        real.replaceSubrange(at..<(at + 4), with: [0, 0, 0xC0, 0x7F])
        let dir = try copyOfEncoder(replacing: "model.safetensors", with: real)
        defer { try? FileManager.default.removeItem(at: dir) }
        let error = #expect(throws: ModelError.self) { try SentenceEncoder(directory: dir.path) }
        #expect(error?.message.contains("model.safetensors") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("not a finite number") == true, "\(error?.message ?? "")")
    }

    @Test func configThatDisagreesWithTheWeightsRealModel() throws {
        let config = try String(contentsOfFile: installedEncoderDirectory + "/config.json", encoding: .utf8)
            .replacingOccurrences(of: "\"intermediate_size\": 1536", with: "\"intermediate_size\": 1024")
        let dir = try copyOfEncoder(replacing: "config.json", with: Data(config.utf8))
        defer { try? FileManager.default.removeItem(at: dir) }
        let error = #expect(throws: ModelError.self) { try SentenceEncoder(directory: dir.path) }
        #expect(error?.code == .wrongTensor)
        #expect(error?.message.contains("expected [1024, 384]") == true)
    }

    @Test func corruptConfig() throws {
        let dir = try copyOfEncoder(replacing: "config.json", with: Data("{ not json".utf8))
        defer { try? FileManager.default.removeItem(at: dir) }
        let error = #expect(throws: ModelError.self) { try SentenceEncoder(directory: dir.path) }
        #expect(error?.message.contains("config.json") == true)
    }

    @Test func corruptTokenizer() throws {
        let dir = try copyOfEncoder(replacing: "tokenizer.json", with: Data("[]".utf8))
        defer { try? FileManager.default.removeItem(at: dir) }
        let error = #expect(throws: ModelError.self) { try SentenceEncoder(directory: dir.path) }
        #expect(error?.message.contains("tokenizer.json") == true)
    }
}
