import ArgumentParser
import Foundation
import MnemoCore
import MnemoPostgres
import MnemoStore

struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Search the memory store.",
        discussion: """
        Modes: dense (sentence vectors), bm25 (keywords), hybrid (both, fused by reciprocal rank).

        Examples:
          mnemo query "when was the boiler serviced?"
          mnemo query "sourdough starter" -k 3 --mode bm25 --json
          mnemo query "decisions" --namespace work --where format=markdown
        """
    )

    @Argument(help: "What to look for.")
    var text: String

    @Option(name: .short, help: "How many results.")
    var k = 5

    @Option(help: "dense, bm25 or hybrid.")
    var mode: QueryMode = .hybrid

    @Option(help: "Only this namespace.")
    var namespace: String?

    @Option(name: .customLong("where"), help: "Only chunks whose metadata KEY equals VALUE (repeatable).")
    var conditions: [String] = []

    @Option(name: .customLong("min-seq"), help: ArgumentHelp("A shared store: first wait (up to 5 s) until this node has applied change N (a write's seq).", valueName: "n"))
    var minSeq: Int64?

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var encoderOptions: EncoderOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard k > 0, k <= 1000 else { throw ValidationError("-k must be between 1 and 1000") }
        _ = try parsePairs(conditions, option: "--where")
    }

    func run() throws {
        let service = try storeOptions.memory(encoder: encoderOptions.load(), access: .read)
        try service.waitUntilApplied(minSeq)
        let filter = SearchFilter(namespace: namespace, metadata: try parsePairs(conditions, option: "--where"))
        let hits = try service.query(text, k: k, mode: mode, filter: filter)
        let rows = hits.map(MemoryHit.init)
        if output.json {
            try Terminal.printJSON(["results": rows])
            return
        }
        if rows.isEmpty { print("no results") }
        for r in rows {
            let excerpt = r.text.replacingOccurrences(of: "\n", with: " ")
            print(String(format: "%2d. %.4f  %@ [bytes %d-%d, chunk %lld]", r.rank, r.score, displayPath(r.source), r.startByte, r.endByte, r.chunkID))
            print("    " + (excerpt.count > 240 ? String(excerpt.prefix(237)) + "..." : excerpt))
        }
    }
}

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Remove a document (every chunk of a source) or one chunk from the store.",
        discussion: """
        Examples:
          mnemo delete --source notes/old.md
          mnemo delete --id 42 --json
        """
    )

    @Option(help: "A source path as indexed (relative paths are resolved like `index` does).")
    var source: String?

    @Option(help: "A chunk id (from `query --json`).")
    var id: Int64?

    @Option(help: "Only in this namespace (default: every namespace).")
    var namespace: String?

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (source == nil) != (id == nil) else { throw ValidationError("give exactly one of --source PATH or --id ID") }
    }

    func run() throws {
        let record = try storeOptions.recordForWriting()
        var receipt = WriteReceipt()
        if let source {
            receipt = try record.remove(source: URL(fileURLWithPath: source).standardizedFileURL.path, namespace: namespace)
        } else if let id {
            receipt = try record.remove(chunkID: id)
        }
        try record.flush()
        if output.json {
            try Terminal.printJSON(["deleted_chunks": receipt.removed, "seq": Int(receipt.seq)])
        } else {
            print("deleted \(receipt.removed) chunk(s)" + (receipt.seq > 0 ? " (change \(receipt.seq) of the shared store)" : ""))
        }
        if receipt.removed == 0 { throw ExitCode(2) }
    }
}

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show what a store holds.",
        discussion: "Example: mnemo stats --store Index --json"
    )

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let health = storeOptions.isShared ? try storeOptions.shared().health : nil
        let store = try openStoreForReading(storeOptions.directory)
        let s = try store.stats()
        if output.json {
            try Terminal.printJSON(StatsJSON(stats: s, shared: health))
            return
        }
        if let health {
            print("""
            shared:     \(health.store) (replica at change \(health.appliedSeq) of \(health.headSeq)\(health.stale ? ", primary unreachable: stale" : ""))
            """)
        }
        print("""
        store:      \(s.directory)
        encoder:    \(s.encoder) (\(s.dimension) dimensions, inner product)
        index:      \(s.indexKind) (layout \(s.indexLayout), \(s.vectorsInIndex) vectors, \(s.tombstones) tombstones)
        documents:  \(s.documents)
        chunks:     \(s.chunks)\(s.namespaces.isEmpty ? "" : "  (" + s.namespaces.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")")
        disk:       \(s.databaseBytes / 1024) KiB SQLite, \(s.indexBytes / 1024) KiB FAISS
        """)
    }
}

/// `stats --json`: the store's figures, and a shared store's replica position beside them.
private struct StatsJSON: Encodable {
    let stats: StoreStats
    let shared: SharedStoreHealth?

    func encode(to encoder: any Encoder) throws {
        try stats.encode(to: encoder)
        if let shared {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(shared, forKey: .shared)
        }
    }

    enum Key: String, CodingKey { case shared }
}

struct RebuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Rebuild the FAISS index from the vectors in SQLite (optionally as another kind).",
        discussion: """
        Examples:
          mnemo rebuild --store Index
          mnemo rebuild --kind hnsw
        """
    )

    @Option(help: "Switch the store to this index kind: \(IndexKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kind: IndexKind?

    @OptionGroup var storeOptions: StoreOptions

    func run() throws {
        let start = Date()
        let store: MemoryStore
        if storeOptions.isShared {
            // A shared store's FAISS index is this node's own: rebuild the replica's.
            let shared = try storeOptions.shared()
            try shared.rebuildReplica(kind: kind)
            store = try openStoreForReading(storeOptions.directory)
        } else {
            store = try openStoreForWriting(storeOptions.directory)
            try store.rebuild(kind: kind)
        }
        let s = try store.stats()
        print(String(format: "rebuilt %@ index (%@ layout) with %d vectors in %.1f s", s.indexKind, s.indexLayout, s.vectorsInIndex, Date().timeIntervalSince(start)))
    }
}

/// Store commands that need no encoder still check the manifest against the one it names.
func openStoreForReading(_ directory: String) throws -> MemoryStore {
    let manifest = try MemoryStore.manifest(in: directory)
    return try MemoryStore(directory: directory, encoder: manifest.encoder, dimension: manifest.dimension, access: .read)
}

func openStoreForWriting(_ directory: String) throws -> MemoryStore {
    let manifest = try MemoryStore.manifest(in: directory)
    return try MemoryStore(directory: directory, encoder: manifest.encoder, dimension: manifest.dimension, access: .write(createWith: manifest.index))
}
