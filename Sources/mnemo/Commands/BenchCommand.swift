import ArgumentParser
import Foundation
import MnemoCore
import MnemoModels
import MnemoStore
import MnemoTensor

/// Benchmarks print figures; they assert nothing. The scripts in Tests/Scripts run them beside the
/// peer implementations in the same run and report ratios.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput (used by Tests/Scripts/bench-*.sh).",
        subcommands: [Encoder.self, Store.self, Ingest.self, LLM.self, Forward.self, Samplers.self, Ask.self]
    )

    struct Encoder: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sentences per second of the sentence encoder over a file of sentences.",
            discussion: "Example: mnemo bench encoder --file sentences.txt --threads 2 --batch 32"
        )

        @Option(help: "A UTF-8 file with one sentence per line.")
        var file: String

        @Option(help: "Texts per forward pass.")
        var batch = 32

        @Option(help: "Timed passes over the whole file (the best is reported).")
        var repeats = 3

        @OptionGroup var encoderOptions: EncoderOptions

        func run() throws {
            let sentences = TextInput.lines(try TextInput.read(file))
            let encoder = try encoderOptions.load()
            _ = try encoder.embed(Array(sentences.prefix(batch)), batchSize: batch)  // warm-up
            var best = Double.infinity
            for _ in 0..<max(1, repeats) {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try encoder.embed(sentences, batchSize: batch)
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            print("sentences: \(sentences.count)  threads: \(BLAS.threads)  batch: \(batch)  blas-core: \(BLAS.coreName)")
            print(String(format: "sentences/s: %.1f", Double(sentences.count) / best))
        }
    }

    /// The same measurement as ../shared/bench/peer_llama.py, so that the two lines compare directly.
    struct LLM: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "llm",
            abstract: "Prefill and decode tokens per second of a GGUF model (as peer_llama.py measures llama.cpp).",
            discussion: """
            The prompt is "The history of the Normans in Europe began when " repeated and cut to
            --prompt-tokens; after an 8-token warm-up the prompt is prefilled in one call, then
            --gen-tokens greedy tokens are decoded one forward pass each.

            Example: mnemo bench llm --model qwen-0.5b --threads 2
            """
        )

        @Option(help: "Prompt tokens.")
        var promptTokens = 128

        @Option(help: "Generated tokens.")
        var genTokens = 128

        @OptionGroup var lm: LanguageModelOptions

        func run() throws {
            let llm = try lm.load()
            let unit = llm.tokenizer.encode("The history of the Normans in Europe began when ", parseSpecial: false)
            let prompt = Array(Array(repeating: unit, count: promptTokens / max(1, unit.count) + 1).joined().prefix(promptTokens))
            let state = llm.model.makeState(capacity: promptTokens + genTokens + 8)
            _ = try llm.model.forward(prompt.prefix(8).map { .token($0) }, state: state)  // warm-up
            state.reset()
            let clock = ContinuousClock()
            var start = clock.now
            var logits = try llm.model.forward(prompt.map { .token($0) }, state: state)
            let prefill = (clock.now - start) / .seconds(1)
            start = clock.now
            for _ in 0..<genTokens {
                logits = try llm.model.forward([.token(Sampler.argmax(logits))], state: state)
            }
            let decode = (clock.now - start) / .seconds(1)
            print(String(format: "mnemo model=%@ threads=%d prefill_tok_s=%.1f decode_tok_s=%.1f finite_check_s=%.3f",
                         URL(fileURLWithPath: llm.path).lastPathComponent, Parallel.threads,
                         Double(promptTokens) / prefill, Double(genTokens) / decode, llm.model.finiteCheckSeconds))
        }
    }

    /// What checking a speculative draft costs: one forward of N positions with logits for each.
    struct Forward: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "forward",
            abstract: "Seconds of one forward pass over N new positions (logits for every position), against N = 1.",
            discussion: """
            After a 64-token context, runs N positions in one forward pass (as speculative decoding checks N
            draft tokens) and reports the median over --repeats, and its ratio to one position's. The passes
            alternate between the counts, so that machine noise falls on all of them alike.

            Example: mnemo bench forward --model qwen-1.5b --positions 1,2,6,9 --threads 2
            """
        )

        @Option(help: ArgumentHelp("Position counts, comma-separated.", valueName: "list"))
        var positions = "1,2,4,6,9,16"

        @Option(help: "Timed passes per count (the median is reported).")
        var repeats = 15

        @OptionGroup var lm: LanguageModelOptions
        @OptionGroup var output: OutputOptions

        struct Row: Encodable {
            var positions: Int
            var medianSeconds: Double
            var ratioToOne: Double
            enum CodingKeys: String, CodingKey { case positions, medianSeconds = "median_seconds", ratioToOne = "ratio_to_one" }
        }

        func run() throws {
            let counts = try positions.split(separator: ",").map { piece -> Int in
                guard let n = Int(piece.trimmingCharacters(in: .whitespaces)), (1...256).contains(n) else {
                    throw ValidationError("--positions: '\(piece)' is not a count in 1...256")
                }
                return n
            }
            guard repeats >= 1 else { throw ValidationError("--repeats must be ≥ 1") }
            let llm = try lm.load()
            let unit = llm.tokenizer.encode("The history of the Normans in Europe began when ", parseSpecial: false)
            let context = Array(Array(repeating: unit, count: 64 / max(1, unit.count) + 1).joined().prefix(64))
            let state = llm.model.makeState(capacity: 64 + (counts.max() ?? 1) + 8)
            _ = try llm.model.forward(context.map { .token($0) }, state: state)
            let clock = ContinuousClock()
            var times: [Int: [Double]] = [:]
            for _ in 0..<repeats + 1 {  // the first round warms up
                for n in counts {
                    state.truncate(to: context.count)
                    let start = clock.now
                    _ = try llm.model.forward(context.prefix(n).map { .token($0) }, state: state, logits: .all)
                    times[n, default: []].append((clock.now - start).seconds)
                }
            }
            func median(_ v: [Double]) -> Double { let s = v.dropFirst().sorted(); return s[s.count / 2] }
            let one = median(times[1] ?? times[counts[0]]!)
            let rows = counts.map { Row(positions: $0, medianSeconds: median(times[$0]!), ratioToOne: median(times[$0]!) / one) }
            if output.json { return try Terminal.printJSON(rows) }
            let batchedNote = ProcessInfo.processInfo.environment["MNEMO_POSITION_BATCHING"] == "off" ? " (position batching off)" : ""
            print("model: \(URL(fileURLWithPath: llm.path).lastPathComponent)  threads: \(Parallel.threads)  kernels: \(Hardware.quantKernels)\(batchedNote)")
            for r in rows { print(String(format: "positions %3d  %8.2f ms  %.2f× one", r.positions, r.medianSeconds * 1000, r.ratioToOne)) }
        }
    }

    struct Store: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Query latency and recall@10 of an index kind on synthetic clustered vectors.",
            discussion: "Example: mnemo bench store --vectors 10000 --kind hnsw --queries 200"
        )

        @Option(help: "Stored vectors.")
        var vectors = 10_000

        @Option(help: "Index kind.")
        var kind: IndexKind = .flat

        @Option(help: "Timed queries (warm).")
        var queries = 200

        @Option(help: "Vector dimension.")
        var dimension = 384

        @Option(help: "Keep the store here instead of a temporary directory.")
        var store: String?

        @Option(help: "Threads for FAISS (OpenMP) and BLAS; docs/PERFORMANCE.md's rows use 1 unless they say otherwise.")
        var threads = 1

        func run() throws {
            BLAS.setThreads(threads)
            MemoryStore.setIndexThreads(threads)
            let dir = store ?? FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-bench-\(UUID().uuidString)").path
            defer { if store == nil { try? FileManager.default.removeItem(atPath: dir) } }
            var rng = SplitMix64(seed: 42)
            // Clustered data: 256 random centres, points scattered around them (closer to text
            // embeddings than uniform noise, which no ANN index can shortcut).
            let d = dimension
            let centres = (0..<256).map { _ in unit((0..<d).map { _ in rng.gaussian() }) }
            func point() -> [Float] {
                let c = centres[Int(rng.next() % 256)]
                return unit((0..<d).map { c[$0] + 0.35 * rng.gaussian() / Float(d).squareRoot() * 4 })
            }
            let memory = try MemoryStore(directory: dir, encoder: "synthetic", dimension: d, access: .write(createWith: kind))
            var start = Date()
            let perDocument = 1000
            for docIndex in 0..<((vectors + perDocument - 1) / perDocument) {
                let n = min(perDocument, vectors - docIndex * perDocument)
                let chunks = (0..<n).map { i in
                    NewChunk(text: "chunk \(docIndex * perDocument + i)", byteRange: 0..<1, metadata: [:],
                             contentHash: "\(docIndex)-\(i)", embedding: point())
                }
                try memory.upsert(NewDocument(source: "doc\(docIndex)", namespace: "default", format: "text",
                                              contentHash: "doc\(docIndex)", bytes: 1, metadata: [:], chunks: chunks))
            }
            try memory.flush()
            let buildSeconds = Date().timeIntervalSince(start)

            let probes = (0..<queries).map { _ in point() }
            // Exact answers for recall, by a BLAS scan over the stored vectors.
            var exact: [[Int64]] = []
            if kind != .flat {
                let rows = try memory.allChunkVectors()
                var all: [Float] = []
                all.reserveCapacity(rows.count * d)
                let ids = rows.map(\.id)
                for row in rows { all += row.vector }
                exact = probes.map { q in
                    var scores = [Float](repeating: 0, count: ids.count)
                    all.withUnsafeBufferPointer { a in
                        BLAS.gemmNT(m: ids.count, n: 1, k: d, a: a.baseAddress!, lda: d, b: q, ldb: d, c: &scores, ldc: 1)
                    }
                    return Array(scores.indices.sorted { scores[$0] > scores[$1] }.prefix(10).map { ids[$0] })
                }
            }
            _ = try memory.searchDense(probes[0], k: 10)  // warm
            var latencies: [Double] = []
            var recall = 0.0
            for (i, q) in probes.enumerated() {
                start = Date()
                let hits = try memory.searchDense(q, k: 10)
                latencies.append(Date().timeIntervalSince(start) * 1000)
                if !exact.isEmpty { recall += Double(Set(hits.map(\.chunk.id)).intersection(exact[i]).count) / 10 }
            }
            latencies.sort()
            let p50 = latencies[latencies.count / 2], p99 = latencies[min(latencies.count - 1, latencies.count * 99 / 100)]
            let stats = try memory.stats()
            print(String(format: "kind: %@  layout: %@  vectors: %d  build: %.1f s  p50: %.2f ms  p99: %.2f ms  recall@10: %@",
                         kind.rawValue, stats.indexLayout, vectors, buildSeconds, p50, p99,
                         exact.isEmpty ? "1 (exact)" : String(format: "%.3f", recall / Double(queries))))
        }

        func unit(_ v: [Float]) -> [Float] {
            let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / n }
        }
    }

    struct Ingest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Chunks per second of `index` on real text (a fresh temporary store).",
            discussion: "Example: mnemo bench ingest Examples/corpus"
        )

        @Argument(help: "Files or directories.")
        var paths: [String]

        @OptionGroup var encoderOptions: EncoderOptions

        func run() throws {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-bench-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let service = try MemoryService(storeDirectory: dir, encoder: encoderOptions.load(), access: .write(createWith: .flat))
            let report = try service.index(paths: paths, options: IndexOptions())
            print(String(format: "files: %d  chunks: %d  seconds: %.2f  chunks/s: %.1f  threads: %d",
                         report.files, report.chunks, report.seconds, Double(report.chunks) / report.seconds, BLAS.threads))
        }
    }
}

/// A small seeded generator, so benchmark data is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func gaussian() -> Float {
        let u1 = max(Float.leastNormalMagnitude, Float(next() >> 40) / Float(1 << 24)), u2 = Float(next() >> 40) / Float(1 << 24)
        return (-2 * logf(u1)).squareRoot() * cosf(2 * .pi * u2)
    }
}
