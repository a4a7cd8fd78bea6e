import Foundation
import MnemoCore
@testable import MnemoPostgres
import MnemoStore
import Testing

/// The shared store against the real PostgreSQL server `with-postgres.sh` starts: a primary and a
/// streaming standby made with pg_basebackup. Each test has a database of its own.
@Suite(.needsPostgres) struct SharedStoreTests {
    private func node(_ url: String, readURL: String? = nil, encoder: HashEmbedder = HashEmbedder()) throws -> (MemoryService, SharedStore, URL) {
        let replica = try temporaryDirectory()
        let shared = try SharedStore(url: url, readURL: readURL, replicaDirectory: replica.path, encoder: encoder.name, dimension: encoder.dimension)
        return (try MemoryService(record: shared, encoder: encoder), shared, replica)
    }

    /// The same corpus through the embedded store and through PostgreSQL: identical (id, score) lists for
    /// 300 queries in each of the three modes, on the node that wrote and on a node that only followed.
    @Test func searchesMatchTheEmbeddedStore() throws {
        let url = try TestPostgres.freshDatabase()
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let files = try Corpus.write(files: 150, into: work.appendingPathComponent("notes"))
        let encoder = HashEmbedder()
        let embedded = try MemoryService(storeDirectory: work.appendingPathComponent("store").path, encoder: encoder, access: .write(createWith: .flat))
        _ = try embedded.index(paths: files.map(\.path), options: IndexOptions())
        let (writer, _, _) = try node(url)
        let report = try writer.index(paths: files.map(\.path), options: IndexOptions())
        #expect(report.added == 150)
        #expect(report.seq == 150, "one change per document, numbered without gaps")
        let (follower, _, _) = try node(url)  // a new node: snapshot
        for query in Corpus.queries(300) {
            for mode in QueryMode.allCases {
                let want = try embedded.query(query, k: 8, mode: mode).map { [$0.chunk.id: $0.score] }
                #expect(try writer.query(query, k: 8, mode: mode).map { [$0.chunk.id: $0.score] } == want, "\(mode) \(query)")
                #expect(try follower.query(query, k: 8, mode: mode).map { [$0.chunk.id: $0.score] } == want, "\(mode) \(query)")
            }
        }
    }

    /// Four nodes start on an empty database at the same moment: the migration runs once, all agree on
    /// the store's id.
    @Test func migrationRaceAppliesOnce() throws {
        let url = try TestPostgres.freshDatabase()
        let ids = Locked<[Int64]>([])
        let errors = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            do {
                let replica = try temporaryDirectory()
                let store = try SharedStore(url: url, replicaDirectory: replica.path, encoder: "test-hash-words", dimension: 64)
                ids.withLock { $0.append(store.storeID) }
            } catch { errors.withLock { $0.append("\(error)") } }
        }
        #expect(errors.value.isEmpty, "\(errors.value)")
        #expect(Set(ids.value).count == 1 && ids.value.count == 4)
        #expect(try TestPostgres.scalar(url, "SELECT count(*) FROM mnemo_migrations") == Int64(PostgresSchema.migrations.count))
        #expect(try TestPostgres.scalar(url, "SELECT count(*) FROM mnemo_manifest") == 1)
    }

    /// Two nodes index the same 300 files at once: every distinct chunk is embedded once in all.
    @Test func duplicateIngestEmbedsOnce() throws {
        let url = try TestPostgres.freshDatabase()
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let files = try Corpus.write(files: 300, into: work, seed: 23).map(\.path)
        nonisolated(unsafe) let nodes = try (0..<2).map { _ in try node(url) }  // one thread each
        let reports = Locked<[IndexReport]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            if let report = try? nodes[i].0.index(paths: files, options: IndexOptions()) { reports.withLock { $0.append(report) } }
        }
        try #require(reports.value.count == 2)
        let distinct = try TestPostgres.scalar(url, "SELECT count(DISTINCT content_hash) FROM mnemo_chunks")
        #expect(reports.value.reduce(0) { $0 + $1.embedded } == Int(distinct))
        #expect(reports.value.reduce(0) { $0 + $1.added } == 300, "each file added by exactly one node")
        #expect(reports.value.reduce(0) { $0 + $1.unchanged } == 300, "and found unchanged by the other")
        #expect(try TestPostgres.scalar(url, "SELECT count(*) FROM mnemo_documents") == 300)
    }

    /// Replay paused on the standby; a write on node A; node B, reading the log from the standby, is asked
    /// for that write's seq: it falls back to the primary and finds it.
    @Test func minSeqReadsAWriteThroughALaggingStandby() throws {
        let url = try TestPostgres.freshDatabase()
        let standby = try TestPostgres.onStandby(url)
        let (a, _, _) = try node(url)
        let (b, bStore, _) = try node(url, readURL: standby)
        // The standby must have the schema before replay stops.
        let deadline = Date().addingTimeInterval(10)
        while (try? TestPostgres.scalar(standby, "SELECT count(*) FROM mnemo_manifest")) != 1, Date() < deadline { usleep(50_000) }
        try PostgresConnection(url: standby).query("SELECT pg_wal_replay_pause()")
        defer { _ = try? PostgresConnection(url: standby).query("SELECT pg_wal_replay_resume()") }
        let work = try temporaryDirectory()
        let file = work.appendingPathComponent("pump.md")
        try "The bicycle pump hangs in the attic beside the ladder.\n".write(to: file, atomically: true, encoding: .utf8)
        let report = try a.index(paths: [file.path], options: IndexOptions())
        #expect(report.seq > 0)
        #expect(try TestPostgres.scalar(standby, "SELECT seq FROM mnemo_log_head") < report.seq, "the standby is behind")
        try b.waitUntilApplied(report.seq, timeout: 5)
        #expect(bStore.appliedSeq >= report.seq)
        #expect(try b.query("bicycle pump attic", k: 1, mode: .bm25).first?.chunk.source == file.path)
    }

    /// Deletes by source and by chunk id reach another node's replica, and its searches stop returning them.
    @Test func deletesReachOtherNodes() throws {
        let url = try TestPostgres.freshDatabase()
        let work = try temporaryDirectory()
        let files = try Corpus.write(files: 20, into: work, seed: 5).map(\.path)
        let (a, aStore, _) = try node(url)
        let (b, bStore, _) = try node(url)
        _ = try a.index(paths: files, options: IndexOptions())
        let gone = try aStore.remove(source: files[3], namespace: nil)
        #expect(gone.removed > 0)
        let chunk = try #require(try aStore.document(source: files[4], namespace: "default")).id
        let firstChunk = try #require(try aStore.chunkIDs(ofDocument: chunk).first)
        let one = try aStore.remove(chunkID: firstChunk)
        #expect(one.removed == 1 && one.seq == gone.seq + 1)
        try b.waitUntilApplied(one.seq, timeout: 5)
        let ids = Set(try b.store.allChunkVectors().map(\.id))
        #expect(!ids.contains(firstChunk))
        #expect(try b.store.chunks(ofSource: files[3], namespace: "default").isEmpty)
        #expect(try b.store.documentIdentities().map(\.chunkIDs) == a.store.documentIdentities().map(\.chunkIDs))
        #expect(bStore.appliedSeq == one.seq)
        // Deleting what is not there changes nothing and takes no sequence number.
        #expect(try aStore.remove(source: "/nowhere.md", namespace: nil) == WriteReceipt())
    }

    /// Bad addresses and mismatched stores are clear errors that name the URL without its password.
    @Test func badAddressesAndMismatchesAreClearErrors() throws {
        let url = try TestPostgres.freshDatabase()
        let replica = try temporaryDirectory().path
        func error(_ body: () throws -> Void) -> StoreError? {
            do { try body(); return nil } catch let e as StoreError { return e } catch { return nil }
        }
        let password = error { _ = try SharedStore(url: url.replacingOccurrences(of: "mnemo@", with: "mnemo:hunter2@"), replicaDirectory: replica, encoder: "e", dimension: 4) }
        #expect(password?.code == .badInput && password?.message.contains("PGPASSWORD") == true && password?.message.contains("hunter2") == false)
        let down = error { _ = try SharedStore(url: "postgresql://mnemo@127.0.0.1:1/x", replicaDirectory: replica, encoder: "e", dimension: 4) }
        #expect(down?.code == .unavailable && down?.message.contains("127.0.0.1:1") == true, "\(String(describing: down))")
        let noDatabase = error { _ = try SharedStore(url: url + "_missing", replicaDirectory: replica, encoder: "e", dimension: 4) }
        #expect(noDatabase?.code == .notFound, "\(String(describing: noDatabase))")
        _ = try SharedStore(url: url, replicaDirectory: replica, encoder: "test-hash-words", dimension: 64)
        let otherEncoder = error { _ = try SharedStore(url: url, replicaDirectory: try temporaryDirectory().path, encoder: "all-MiniLM-L6-v2", dimension: 384) }
        #expect(otherEncoder?.code == .incompatible && otherEncoder?.message.contains("test-hash-words") == true)
        // A user's embedded store given as --replica is refused, and nothing in it is touched.
        let userStore = try temporaryDirectory()
        let encoder = HashEmbedder()
        var own: MemoryService? = try MemoryService(storeDirectory: userStore.path, encoder: encoder, access: .write(createWith: .flat))
        _ = try own?.index(paths: try Corpus.write(files: 2, into: userStore.appendingPathComponent("in")).map(\.path), options: IndexOptions())
        let chunksBefore = try own?.store.chunkCount()
        // Refused whether the user's mnemo holds the store open (its write lock) or not.
        let whileOpen = error { _ = try SharedStore(url: url, replicaDirectory: userStore.path, encoder: encoder.name, dimension: encoder.dimension) }
        #expect(whileOpen?.code == .incompatible && whileOpen?.message.contains("embedded store") == true, "\(String(describing: whileOpen))")
        own = nil
        let refused = error { _ = try SharedStore(url: url, replicaDirectory: userStore.path, encoder: encoder.name, dimension: encoder.dimension) }
        #expect(refused?.code == .incompatible && refused?.message.contains("embedded store") == true, "\(String(describing: refused))")
        #expect(try MemoryStore(directory: userStore.path, encoder: encoder.name, dimension: encoder.dimension, access: .read).chunkCount() == chunksBefore)
    }

    /// A hole in the change log stops the replica at the change before it, with an error naming both.
    @Test func aLogGapIsAnErrorAndTheReplicaStaysWhereItWas() throws {
        let url = try TestPostgres.freshDatabase()
        let work = try temporaryDirectory()
        let files = try Corpus.write(files: 3, into: work, seed: 3).map(\.path)
        let (a, _, _) = try node(url)
        let (_, bStore, _) = try node(url)
        _ = try a.index(paths: [files[0]], options: IndexOptions())
        try bStore.catchUp()
        let before = bStore.appliedSeq
        _ = try a.index(paths: [files[1], files[2]], options: IndexOptions())
        try PostgresConnection(url: url).query("DELETE FROM mnemo_log WHERE seq = $1", [.int(before + 1)])
        #expect(throws: StoreError.self) { try bStore.catchUp() }
        do { try bStore.catchUp() } catch let e as StoreError {
            #expect(e.message.contains("gap after change \(before)"), "\(e.message)")
        }
        #expect(bStore.appliedSeq == before)
    }
}

/// A value shared by the threads of a test.
final class Locked<T>: @unchecked Sendable {
    private var stored: T
    private let lock = NSLock()
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func withLock<R>(_ body: (inout T) -> R) -> R { lock.withLock { body(&stored) } }
}
