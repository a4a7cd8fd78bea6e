import ArgumentParser
import Foundation
import MnemoCore
import MnemoModels

struct TrainProjectorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-projector",
        abstract: "Train the projector that turns stored sentence vectors into soft tokens for a model (xRAG).",
        discussion: """
        The decoder stays frozen; gradients flow through it into the projector only.
        Stage 'reconstruction': the model reads a passage's soft token and must repeat the passage.
        Stage 'qa': the model writes a question about each passage and answers it reading the text
        (the teacher); the projector learns to make the soft token give the same answer distributions.
        Training text: SQuAD JSON files (their contexts only, never their questions) and documents
        (.txt .md .html .jsonl .pdf, directories recursively).

        A checkpoint (<out>.checkpoint) is written every --checkpoint-every steps; --resume continues
        from it with the same batches. Runs are deterministic for a given seed and thread count.

        Examples:
          mnemo train-projector --model smollm2 --data ../shared/data/squad/squad2-dev-slice.json --data Examples/corpus \\
              --steps 400 --learning-rate 2e-3 --validation 0 --out Index/projectors/SmolLM2-135M-Instruct.Q4_1.safetensors
          mnemo train-projector --model smollm2 --stage qa --initial Index/projectors/SmolLM2-135M-Instruct.Q4_1.safetensors \\
              --data ../shared/data/squad/squad2-dev-slice.json --steps 200 --out /tmp/qa.safetensors
          mnemo train-projector --model smollm2 --data notes/ --steps 10 --out /tmp/p.safetensors --resume --json
        """
    )

    enum Stage: String, ExpressibleByArgument, CaseIterable { case reconstruction, qa, cloze }

    @Option(help: "Training text: SQuAD JSON files and document files or directories (repeatable).")
    var data: [String] = []

    @Option(help: "Stage: reconstruction, qa (model-written questions, a teacher) or cloze (a name or number blanked out of each sentence, gold answers).")
    var stage: Stage = .reconstruction

    @Option(help: "Optimiser steps (in all, counting a resumed checkpoint's).")
    var steps = 300

    @Option(help: "Passages per step.")
    var batchSize = 8

    @Option(help: "Peak learning rate (linear warm-up, then cosine decay to a tenth).")
    var learningRate: Float = 1e-3

    @Option(help: "Passage size in encoder tokens.")
    var passageTokens = 48

    @Option(help: "Longest reconstruction target, in model tokens.")
    var maxAnswerTokens = 64

    @Option(help: "Use at most this many passages (0: all).")
    var maxPassages = 0

    @Option(help: "Start from this projector's weights (e.g. stage 1's output for stage 2).")
    var initial: String?

    @Option(help: "Hidden width of the projector (default: the model's width).")
    var hidden: Int?

    @Option(help: "Stage qa: the model that writes the questions (default: the model trained for).")
    var questionModel: String?

    @Option(help: "Where the stage-2 questions and teacher answers are cached (default: <out>.qa.jsonl).")
    var qaCache: String?

    @Option(help: "Hold out this many examples (never trained on) to measure the loss with the soft token against a zero vector (0: train on all).")
    var validation = 16

    @Option(help: "The projector file to write.")
    var out: String

    @Option(help: "Save a checkpoint every N steps.")
    var checkpointEvery = 50

    @Option(help: "Stop after this many steps of this run and save a checkpoint (the schedule still spans --steps); continue later with --resume.")
    var stopAfter: Int?

    @Flag(help: "Continue from <out>.checkpoint when it exists.")
    var resume = false

    @Option(help: "Random seed (initialisation and batch order).")
    var seed: UInt64 = 42

    @OptionGroup var lm: LanguageModelOptions
    @Option(name: .customLong("encoder"), help: "Encoder: an installed model's name or a directory path.")
    var encoderName: String = ModelLocator.defaultEncoder
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard steps > 0, batchSize > 0, checkpointEvery > 0 else { throw ValidationError("--steps, --batch-size and --checkpoint-every must be positive") }
        guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--learning-rate must be positive") }
        guard !data.isEmpty else { throw ValidationError("give training text with --data (SQuAD JSON, documents or directories)") }
        guard (8...512).contains(passageTokens) else { throw ValidationError("--passage-tokens must be within 8…512") }
    }

    func run() throws {
        let clock = ContinuousClock(), start = clock.now
        let llm = try lm.load()
        let encoder = try SentenceEncoder(directory: ModelLocator.resolve(encoderName))
        let modelFile = URL(fileURLWithPath: llm.path).lastPathComponent
        let manifest = Projector.Manifest(
            encoder: encoder.name, encoderSHA256: try ModelIdentity.encoderSHA256(encoder),
            model: modelFile, modelSHA256: try ModelIdentity.sha256(ofFile: llm.path),
            inputDim: encoder.dimension, hiddenDim: hidden ?? llm.model.config.dim, outputDim: llm.model.config.dim,
            training: "mnemo " + CommandLine.arguments.dropFirst().joined(separator: " "))
        let projector: Projector
        if let initial {
            projector = try Projector(path: initial, expect: (manifest.encoderSHA256, manifest.modelSHA256))
            projector.manifest.training += "; then " + manifest.training
        } else {
            projector = Projector(manifest: manifest, seed: seed, outputRMS: ProjectorTrainer.embeddingRMS(llm.model))
        }
        let trainer = try ProjectorTrainer(llm: llm, projector: projector, learningRate: learningRate)
        let checkpoint = out + ".checkpoint"
        if resume, FileManager.default.fileExists(atPath: checkpoint) {
            try trainer.resume(from: checkpoint)
            log("resumed from \(checkpoint) at step \(trainer.optimizer.step)")
        }

        var passages = try ProjectorData.passages(paths: data, encoder: encoder, targetTokens: passageTokens)
        if maxPassages > 0 { passages = Array(passages.prefix(maxPassages)) }
        log("\(passages.count) passages from \(data.joined(separator: ", "))")
        var examples: [ProjectorExample]
        switch stage {
        case .reconstruction:
            examples = try ProjectorData.reconstruction(passages, encoder: encoder, llm: llm, maxAnswerTokens: maxAnswerTokens)
        case .qa:
            examples = try qaExamples(passages, encoder: encoder, llm: llm)
        case .cloze:
            examples = try ProjectorData.cloze(passages, encoder: encoder, llm: llm)
            log("\(examples.count) cloze examples")
        }

        // A seeded split: the held-out examples are the same on every run and resume.
        var heldOut: [ProjectorExample] = []
        if validation > 0 {
            var splitRNG = SeededRandom(seed: seed ^ 0x5eed)
            examples.shuffle(using: &splitRNG)
            heldOut = Array(examples.suffix(min(validation, examples.count / 4)))
            examples.removeLast(heldOut.count)
        }
        let zeroLoss = try heldOut.isEmpty ? nil : trainer.loss(heldOut, memory: .zero)
        let startLoss = try heldOut.isEmpty ? nil : trainer.loss(heldOut, memory: .soft)
        if let zeroLoss, let startLoss {
            log(String(format: "held-out loss (%d examples): %.3f with a zero vector, %.3f with the soft token", heldOut.count, zeroLoss, startLoss))
        }

        var options = ProjectorTrainingOptions()
        options.steps = steps
        options.batchSize = batchSize
        options.learningRate = learningRate
        options.seed = seed
        options.checkpointEvery = checkpointEvery
        options.stopAfter = stopAfter
        let bar = ProgressBar(total: steps, label: "steps", initial: trainer.optimizer.step)
        var smoothed: Double?, positions = 0, targets = 0, seconds = 0.0
        var history: [ProjectorTrainingStep] = []
        try trainer.train(examples, options: options, checkpoint: checkpoint) { step in
            smoothed = smoothed.map { 0.9 * $0 + 0.1 * step.loss } ?? step.loss
            positions += step.positions; targets += step.targets; seconds += step.seconds
            history.append(step)
            bar.extra = String(format: "loss %.3f  %.0f positions/s", smoothed ?? 0, Double(positions) / max(seconds, 1e-9))
            bar.update(step.step)
        }
        bar.finish()
        let endLoss = try heldOut.isEmpty ? nil : trainer.loss(heldOut, memory: .soft)
        if let endLoss { log(String(format: "held-out loss after training: %.3f with the soft token", endLoss)) }
        try FileManager.default.createDirectory(atPath: (out as NSString).deletingLastPathComponent.isEmpty ? "." : (out as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try projector.save(to: out)
        let wall = (clock.now - start).seconds
        if output.json {
            try Terminal.printJSON(Report(out: out, model: modelFile, stage: stage.rawValue, examples: examples.count, steps: trainer.optimizer.step,
                                          finalLoss: smoothed ?? 0, heldOut: heldOut.count, heldOutLossZero: zeroLoss, heldOutLossStart: startLoss,
                                          heldOutLossEnd: endLoss, positions: positions, targetTokens: targets,
                                          trainingSeconds: seconds, wallSeconds: wall, log: history), snakeCase: true)
        } else {
            print(String(format: "wrote %@: %d steps, loss %.3f, %d positions (%d target tokens) in %.0f s training, %.0f s wall",
                         out, trainer.optimizer.step, smoothed ?? 0, positions, targets, seconds, wall))
        }
    }

    struct Report: Encodable {
        let out, model, stage: String
        let examples, steps: Int
        let finalLoss: Double
        let heldOut: Int
        let heldOutLossZero, heldOutLossStart, heldOutLossEnd: Double?
        let positions, targetTokens: Int
        let trainingSeconds, wallSeconds: Double
        let log: [ProjectorTrainingStep]
    }

    /// One cached stage-2 example (the vector is recomputed from the text).
    struct QARecord: Codable {
        let text, question: String
        let answer: [Int32]
        let teacherIDs: [[Int32]]
        let teacherP: [[Float]]
    }

    func qaExamples(_ passages: [String], encoder: SentenceEncoder, llm: LanguageModel) throws -> [ProjectorExample] {
        let cache = qaCache ?? out + ".qa.jsonl"
        if let data = FileManager.default.contents(atPath: cache) {
            let records = try data.split(separator: 0x0A).map { try JSONDecoder().decode(QARecord.self, from: Data($0)) }
            let vectors = try encoder.embed(records.map(\.text))
            log("\(records.count) stage-2 examples from \(cache)")
            return zip(records, vectors).map { r, v in
                ProjectorExample(vector: v, text: r.text, question: r.question, answer: r.answer,
                                 teacher: zip(r.teacherIDs, r.teacherP).map { ids, ps in zip(ids, ps).map { ($0, $1) } })
            }
        }
        let bar = ProgressBar(total: passages.count, label: "passages (questions + teacher answers)")
        let writer = try questionModel.map { try LanguageModel(path: ModelLocator.resolve($0)) }
        let examples = try ProjectorData.questions(passages, encoder: encoder, llm: llm, writer: writer) { bar.update($0) }
        bar.finish()
        var lines = Data()
        for e in examples {
            let t = e.teacher ?? []
            lines.append(try JSONEncoder().encode(QARecord(text: e.text, question: e.question ?? "", answer: e.answer,
                                                           teacherIDs: t.map { $0.map(\.id) }, teacherP: t.map { $0.map(\.p) })))
            lines.append(0x0A)
        }
        try lines.write(to: URL(fileURLWithPath: cache))
        log("\(examples.count) stage-2 examples written to \(cache)")
        return examples
    }

    func log(_ message: String) { Terminal.printError(message) }
}
