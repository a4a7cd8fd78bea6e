import Foundation
import MnemoTensor
import Testing
@testable import MnemoModels

/// The backward pass that trains the projector, checked against finite differences of the loss, and
/// the trainable decoder's forward against the inference decoder on the real model.
@Suite(.tags(.realModel), .needsModels) struct TrainingTests {
    /// A batch of two packed sequences with soft inputs, tokens, one-hot and teacher targets.
    struct Problem {
        let decoder: TrainableDecoder
        var sequences: [[DecoderInput]]
        let logitRows: [Int]
        let targets: [TrainingLoss.Target]
        /// (sequence, position) of each soft input.
        let soft: [(Int, Int)]

        func loss() throws -> Double {
            let tape = try decoder.forward(sequences, logitRows: logitRows)
            return TrainingLoss.apply(tape.logits.pointer, vocab: decoder.config.vocabSize, targets: targets, scale: 1)
        }

        /// Analytic d(loss)/d(soft input), one array per soft input.
        func gradients() throws -> [[Float]] {
            let tape = try decoder.forward(sequences, logitRows: logitRows)
            _ = TrainingLoss.apply(tape.logits.pointer, vocab: decoder.config.vocabSize, targets: targets, scale: 1)
            let dx = decoder.backward(tape, logitGradients: tape.logits.pointer)
            let starts = [0, sequences[0].count]
            return soft.map { s, p in Array(UnsafeBufferPointer(start: dx.pointer + (starts[s] + p) * decoder.config.dim, count: decoder.config.dim)) }
        }
    }

    static func problem(architecture: String) -> Problem {
        let config = DecoderConfig(architecture: architecture, layers: 2, dim: 16, ffnDim: 24, heads: 4, kvHeads: 2, vocabSize: 23, ropeBase: 100)
        let decoder = TrainableDecoder(config: config, weights: .random(config, seed: 7, biases: architecture == "qwen2"))
        var rng = SeededRandom(seed: 11)
        func vector() -> [Float] { (0..<config.dim).map { _ in 2 * Float(rng.nextUnit()) - 1 } }
        // A teacher distribution over part of the vocabulary.
        let teacher: [(id: Int32, p: Float)] = {
            let raw = (0..<8).map { _ in Float(rng.nextUnit()) + 0.01 }
            let sum = raw.reduce(0, +)
            return raw.enumerated().map { (Int32($0.offset * 2), $0.element / sum) }
        }()
        let a: [DecoderInput] = [.token(1), .vector(vector()), .token(5), .token(9), .token(2), .token(17)]
        let b: [DecoderInput] = [.vector(vector()), .token(3), .token(4), .token(8)]
        // Logits at rows after the soft inputs (packed: b starts at row 6).
        return Problem(decoder: decoder, sequences: [a, b], logitRows: [2, 3, 5, 7, 9],
                       targets: [.token(9), .token(2), .sparse(teacher), .token(4), .token(0)], soft: [(0, 1), (1, 0)])
    }

    @Test(arguments: ["llama", "qwen2"])
    func inputGradientsMatchFiniteDifferences(architecture: String) throws {
        var problem = Self.problem(architecture: architecture)
        let analytic = try problem.gradients()
        let eps: Float = 1e-2
        var worst: Float = 0
        for (index, (s, p)) in problem.soft.enumerated() {
            guard case .vector(let base) = problem.sequences[s][p] else { Issue.record("not a vector"); return }
            for j in 0..<base.count {
                var plus = base, minus = base
                plus[j] += eps; minus[j] -= eps
                problem.sequences[s][p] = .vector(plus)
                let lp = try problem.loss()
                problem.sequences[s][p] = .vector(minus)
                let lm = try problem.loss()
                problem.sequences[s][p] = .vector(base)
                let numeric = Float((lp - lm) / Double(2 * eps))
                let error = abs(numeric - analytic[index][j]) / max(1e-2, abs(numeric) + abs(analytic[index][j]))
                worst = max(worst, error)
                #expect(error < 2e-2, "\(architecture) soft input \(index) dim \(j): analytic \(analytic[index][j]) numeric \(numeric)")
            }
        }
        // The check must be able to fail: gradients are not all zero.
        #expect(analytic.flatMap { $0 }.map(abs).max()! > 1e-3)
    }

    @Test func projectorGradientsMatchFiniteDifferences() throws {
        let manifest = Projector.Manifest(encoder: "e", encoderSHA256: "a", model: "m", modelSHA256: "b", inputDim: 6, hiddenDim: 5, outputDim: 4)
        let projector = Projector(manifest: manifest, seed: 3, outputRMS: 0.5)
        var rng = SeededRandom(seed: 5)
        let inputs = (0..<3).map { _ in (0..<6).map { _ in 2 * Float(rng.nextUnit()) - 1 } }
        let weights = (0..<12).map { _ in 2 * Float(rng.nextUnit()) - 1 }
        func loss() throws -> Double {
            let out = try projector.project(inputs).flatMap { $0 }
            return zip(out, weights).reduce(0) { $0 + Double($1.0 * $1.1) }
        }
        let grads = try weights.withUnsafeBufferPointer { try projector.backward(projector.forward(inputs), outputGradients: $0.baseAddress!) }
        let eps: Float = 1e-2
        for i in 0..<projector.parameters.count {
            let saved = projector.parameters[i]
            projector.parameters[i] = saved + eps
            let lp = try loss()
            projector.parameters[i] = saved - eps
            let lm = try loss()
            projector.parameters[i] = saved
            let numeric = Float((lp - lm) / Double(2 * eps))
            #expect(abs(numeric - grads[i]) <= 1e-2 * max(1, abs(numeric)), "parameter \(i): analytic \(grads[i]) numeric \(numeric)")
        }
    }

    @Test func projectorRoundTripsAndRefusesAnotherPair() throws {
        let manifest = Projector.Manifest(encoder: "all-MiniLM-L6-v2", encoderSHA256: "enc", model: "m.gguf", modelSHA256: "llm",
                                          inputDim: 8, hiddenDim: 6, outputDim: 5, training: "test")
        let projector = Projector(manifest: manifest, seed: 1, outputRMS: 1)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("projector-\(getpid()).safetensors").path
        defer { unlink(path) }
        try projector.save(to: path)
        let loaded = try Projector(path: path, expect: ("enc", "llm"))
        #expect(loaded.manifest == manifest)
        #expect(loaded.parameters.array == projector.parameters.array)
        #expect(throws: ModelError.self) { try Projector(path: path, expect: ("enc", "other")) }
        #expect(throws: ModelError.self) { try Projector(path: path, expect: ("other", "llm")) }
        // A cut file is an error, not a crash.
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        #expect(throws: ModelError.self) { try Projector(path: path) }
    }

    /// The training forward (plain floats, packed) must compute what the inference decoder computes.
    @Test func trainableForwardMatchesTheInferenceDecoder() throws {
        let llm = try smolLM.get()
        let decoder = TrainableDecoder(llm.model)
        let ids = llm.encode("Mnemo keeps each memory as one vector; the projector turns that vector into a token the model reads. It runs offline, on your own machine, every day.")
        #expect(ids.count >= 32)  // the inference decoder's batch path, kept on floats (sgemm) on every CPU
        let floats = llm.model.makeState(capacity: 128)
        floats.floatBatches = true
        let reference = try llm.model.forward(ids.map { .token($0) }, state: floats, logits: .all)
        // Packed after another sequence: positions restart, attention stays inside each sequence.
        let other = llm.encode("Unrelated text first.").map { DecoderInput.token($0) }
        let tape = try decoder.forward([other, ids.map { .token($0) }], logitRows: Array(other.count..<other.count + ids.count))
        let v = llm.model.config.vocabSize
        var worst: Float = 0
        for i in 0..<ids.count {
            for j in 0..<v { worst = max(worst, abs(tape.logits[i * v + j] - reference[i * v + j])) }
        }
        #expect(worst < 0.05, "largest logit difference \(worst)")
    }
}
