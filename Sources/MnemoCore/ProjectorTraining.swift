import Foundation
import MnemoIngest
import MnemoModels
import MnemoTensor

/// One training example: a memory (its sentence vector and text) and the tokens the model should
/// produce after reading it as a soft token.
public struct ProjectorExample: Sendable {
    public var vector: [Float]
    public var text: String
    /// nil: reconstruction (stage 1): the answer is the text itself.
    public var question: String?
    public var answer: [Int32]
    /// Stage 2: the teacher's probabilities (top entries, renormalised) for each answer token and the end token.
    public var teacher: [[(id: Int32, p: Float)]]?

    public init(vector: [Float], text: String, question: String?, answer: [Int32], teacher: [[(id: Int32, p: Float)]]?) {
        self.vector = vector; self.text = text; self.question = question; self.answer = answer; self.teacher = teacher
    }
}

public struct ProjectorTrainingOptions: Sendable {
    public var steps = 300
    public var batchSize = 8
    public var learningRate: Float = 1e-3
    public var warmupSteps = 20
    public var seed: UInt64 = 42
    public var checkpointEvery = 50
    /// Steps to run in this call before returning (the learning-rate schedule still spans `steps`).
    public var stopAfter: Int?
    public init() {}
}

/// What one step reports (progress bar, JSON log).
public struct ProjectorTrainingStep: Sendable, Codable {
    public var step: Int
    public var steps: Int
    public var loss: Double
    public var targets: Int
    public var positions: Int
    public var seconds: Double
}

/// Trains a projector through the frozen decoder (xRAG): the decoder reads the projected vector as
/// one input position, the loss is on the tokens it should produce after it, and the gradient flows
/// back through the decoder into the projector only.
public final class ProjectorTrainer {
    public let llm: LanguageModel
    public let decoder: TrainableDecoder
    public let prompt: MemoryPrompt
    public let projector: Projector
    public private(set) var optimizer: AdamW
    /// Closes every answer: the model learns where to stop.
    let endToken: Int32

    public init(llm: LanguageModel, projector: Projector, learningRate: Float) throws {
        self.llm = llm
        endToken = try Self.endOfTurn(llm)
        decoder = TrainableDecoder(llm.model)
        prompt = MemoryPrompt(llm: llm)
        self.projector = projector
        optimizer = AdamW(count: projector.parameters.count, learningRate: learningRate)
    }

    /// The root-mean-square of the decoder's embedding entries: the scale a fresh projector aims for.
    public static func embeddingRMS(_ model: DecoderModel) -> Float {
        var sum = 0.0, count = 0
        for id in stride(from: 0, to: model.config.vocabSize, by: max(1, model.config.vocabSize / 512)) {
            for x in model.embedding(of: Int32(id)) { sum += Double(x * x); count += 1 }
        }
        return Float((sum / Double(max(1, count))).squareRoot())
    }

    // MARK: Checkpoints

    /// Saves the projector with the optimiser's moments and step (resume continues exactly).
    public func saveCheckpoint(to path: String) throws {
        try projector.save(to: path, extra: [("adam.m", optimizer.m), ("adam.v", optimizer.v)],
                           metadata: ["mnemo.step": String(optimizer.step)])
    }

    public func resume(from path: String) throws {
        let file = try SafeTensorsFile(path: path)
        let count = projector.parameters.count
        guard let stepText = file.metadata["mnemo.step"], let step = Int(stepText) else { throw ModelError(.corrupt, "\(path): not a checkpoint (no mnemo.step)") }
        let values = try file.float32("projector", shape: [count])
        let m = try file.float32("adam.m", shape: [count]), v = try file.float32("adam.v", shape: [count])
        projector.parameters.pointer.update(from: values.pointer, count: count)
        optimizer = AdamW(m: m, v: v, step: step, learningRate: optimizer.learningRate)
    }

    // MARK: Steps

    /// The token that closes an assistant turn in the chat format.
    static func endOfTurn(_ llm: LanguageModel) throws -> Int32 {
        let ids = llm.tokenizer.encode("<|im_end|>", addBOS: false)
        guard ids.count == 1, llm.endTokens.contains(ids[0]) else { throw ModelError(.unsupported, "\(llm.path): no <|im_end|> token ending a turn") }
        return ids[0]
    }

    /// What the soft token stands in for when measuring the loss.
    public enum Memory: String, Sendable, Codable { case soft, zero }

    /// Mean loss per target token over `examples` without training: with the projected vectors, or
    /// with a zero vector in their place (the model told nothing), to see what the projector adds.
    public func loss(_ examples: [ProjectorExample], memory: Memory) throws -> Double {
        var total = 0.0, count = 0
        for start in stride(from: 0, to: examples.count, by: 8) {
            let batch = Array(examples[start..<min(start + 8, examples.count)])
            let (tape, targets, _) = try forward(batch, zeroSoft: memory == .zero)
            total += TrainingLoss.apply(tape.logits.pointer, vocab: decoder.config.vocabSize, targets: targets, scale: 1)
            count += targets.count
        }
        return total / Double(max(1, count))
    }

    /// The packed forward pass of a batch: the tape, each logit row's target and the soft rows.
    private func forward(_ batch: [ProjectorExample], zeroSoft: Bool = false, activations: Projector.Activations? = nil) throws
        -> (TrainableDecoder.Tape, [TrainingLoss.Target], [Int]) {
        let dim = decoder.config.dim
        let output = try activations?.output ?? projector.forward(batch.map(\.vector)).output
        var sequences: [[DecoderInput]] = [], logitRows: [Int] = [], targets: [TrainingLoss.Target] = []
        var softRows: [Int] = []
        var row = 0
        for (i, example) in batch.enumerated() {
            let soft = zeroSoft ? [Float](repeating: 0, count: dim) : Array(UnsafeBufferPointer(start: output.pointer + i * dim, count: dim))
            let promptInputs = try example.question.map { try prompt.question($0, memories: [.soft(soft)]) } ?? prompt.reconstruction(soft)
            guard let slot = promptInputs.firstIndex(where: { if case .vector = $0 { true } else { false } }) else {
                throw ModelError(.badInput, "training prompt without a soft token")
            }
            softRows.append(row + slot)
            let answer = example.answer + [endToken]
            let sequence = promptInputs + answer.map { .token($0) }
            for (j, token) in answer.enumerated() {
                logitRows.append(row + promptInputs.count + j - 1)
                if let teacher = example.teacher, j < teacher.count {
                    targets.append(.sparse(teacher[j]))
                } else {
                    targets.append(.token(token))
                }
            }
            sequences.append(sequence)
            row += sequence.count
        }
        return (try decoder.forward(sequences, logitRows: logitRows), targets, softRows)
    }

    /// One optimiser step over `batch`; `learningRate` overrides the optimiser's for this step.
    public func step(_ batch: [ProjectorExample], learningRate: Float) throws -> ProjectorTrainingStep {
        let clock = ContinuousClock(), start = clock.now
        let activations = try projector.forward(batch.map(\.vector))
        let (tape, targets, softRows) = try forward(batch, activations: activations)
        let row = tape.rows
        let loss = TrainingLoss.apply(tape.logits.pointer, vocab: decoder.config.vocabSize, targets: targets, scale: 1 / Float(targets.count))
        let dx = decoder.backward(tape, logitGradients: tape.logits.pointer)
        let dim = decoder.config.dim
        let dSoft = FloatBuffer(count: batch.count * dim)
        for (i, r) in softRows.enumerated() { (dSoft.pointer + i * dim).update(from: dx.pointer + r * dim, count: dim) }
        let grads = projector.backward(activations, outputGradients: dSoft.pointer)
        // Clip the gradient's global norm at 1: a few long answers must not blow up a step.
        let norm = Kernels.dot(grads.pointer, grads.pointer, count: grads.count).squareRoot()
        if norm > 1 { for i in 0..<grads.count { grads[i] /= norm } }
        optimizer.update(projector.parameters, gradients: grads, learningRate: learningRate)
        return ProjectorTrainingStep(step: optimizer.step, steps: 0, loss: loss / Double(targets.count), targets: targets.count,
                                     positions: row, seconds: (clock.now - start).seconds)
    }

    /// Trains for `options.steps` (counting a resumed checkpoint's steps), sampling batches with the
    /// seed; saves a checkpoint every `checkpointEvery` steps when `checkpoint` is given.
    public func train(_ examples: [ProjectorExample], options: ProjectorTrainingOptions, checkpoint: String?,
                      onStep: (ProjectorTrainingStep) -> Void) throws {
        guard !examples.isEmpty else { throw ModelError(.badInput, "no training examples") }
        var rng = SeededRandom(seed: options.seed)
        var order: [Int] = []
        // Replay the sampling of steps already done, so that a resumed run sees the same batches.
        func nextBatch() -> [ProjectorExample] {
            (0..<min(options.batchSize, examples.count)).map { _ in
                if order.isEmpty { order = Array(0..<examples.count); order.shuffle(using: &rng) }
                return examples[order.removeLast()]
            }
        }
        for _ in 0..<optimizer.step { _ = nextBatch() }
        let last = min(options.steps, optimizer.step + (options.stopAfter ?? options.steps))
        while optimizer.step < last {
            let s = optimizer.step
            let warm = Float(min(1, Double(s + 1) / Double(max(1, options.warmupSteps))))
            let cosine = Float(0.5 * (1 + cos(Double.pi * Double(s) / Double(options.steps))))
            var report = try step(nextBatch(), learningRate: options.learningRate * warm * max(0.1, cosine))
            report.steps = options.steps
            onStep(report)
            if let checkpoint, optimizer.step % options.checkpointEvery == 0 || optimizer.step == last {
                try saveCheckpoint(to: checkpoint)
            }
        }
    }
}

