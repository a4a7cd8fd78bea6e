import Foundation
import MnemoCore
@testable import MnemoPostgres
import MnemoStore
import Testing

/// The throwaway cluster `Tests/Scripts/with-postgres.sh` starts (`make test` runs every test under it).
enum TestPostgres {
    static var primary: String? { ProcessInfo.processInfo.environment["MNEMO_TEST_POSTGRES"] }
    static var standby: String? { ProcessInfo.processInfo.environment["MNEMO_TEST_POSTGRES_STANDBY"] }

    static func requirePrimary() throws -> String {
        try #require(primary, "no PostgreSQL: run the tests under Tests/Scripts/with-postgres.sh (make test does)")
    }

    /// A new, empty database on the primary; its URL.
    static func freshDatabase() throws -> String {
        let base = try requirePrimary()
        let name = "t_\(UUID().uuidString.prefix(8).lowercased())"
        try PostgresConnection(url: base).execute("CREATE DATABASE \(name)")
        return base.replacingOccurrences(of: "/postgres", with: "/\(name)")
    }

    /// `url` on the standby's port (same database).
    static func onStandby(_ url: String) throws -> String {
        let primaryURL = try requirePrimary()
        let standbyURL = try #require(standby, "no standby: run the tests under Tests/Scripts/with-postgres.sh")
        let port = { (u: String) in URLComponents(string: u)?.port ?? 0 }
        return url.replacingOccurrences(of: ":\(port(primaryURL))/", with: ":\(port(standbyURL))/")
    }

    static func scalar(_ url: String, _ sql: String) throws -> Int64 {
        try PostgresConnection(url: url).query(sql).first?.int(0) ?? 0
    }
}

extension Trait where Self == ConditionTrait {
    /// `make check` (MNEMO_CHECK=1) runs without a PostgreSQL server; `make test` starts one.
    static var needsPostgres: Self {
        .enabled(if: ProcessInfo.processInfo.environment["MNEMO_CHECK"] != "1", "make check runs without a PostgreSQL server")
    }
}

/// A sentence encoder without a model file: words hashed into 64 buckets, scaled to unit length, so texts
/// that share words are close. Counts what it embeds.
final class HashEmbedder: TextEmbedder, @unchecked Sendable {
    let name = "test-hash-words"
    let dimension = 64
    private let lock = NSLock()
    private var count = 0
    var embedded: Int { lock.withLock { count } }

    static func words(_ text: String) -> [Substring] { text.lowercased().split { !($0.isLetter || $0.isNumber) } }

    func tokenCount(_ text: String) -> Int { Self.words(text).count }

    func embed(_ texts: [String]) throws -> [[Float]] {
        lock.withLock { count += texts.count }
        return texts.map { text in
            var v = [Float](repeating: 0, count: dimension)
            for word in Self.words(text) {
                var h: UInt32 = 2_166_136_261
                for byte in word.utf8 { h = (h ^ UInt32(byte)) &* 16_777_619 }
                v[Int(h % UInt32(dimension))] += 1
            }
            if v.allSatisfy({ $0 == 0 }) { v[0] = 1 }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / norm }
        }
    }
}

/// Files of made-up notes: each has a few sentences of words drawn from a fixed vocabulary by a seeded
/// generator, so every run writes the same corpus.
enum Corpus {
    static let vocabulary = """
        boiler service valve radiator garden hedge bicycle chain brake tyre oven recipe flour yeast starter loaf \
        invoice payment March April June August plumber electrician key drawer shelf garage attic window paint \
        ladder filter pump hose tomato basil compost fence gate lock code alarm battery charger router printer
        """.split(separator: " ").map(String.init)

    static func write(files: Int, into directory: URL, seed: UInt64 = 7) throws -> [URL] {
        var state = seed
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try (0..<files).map { i in
            let sentences = (0..<(3 + next() % 6)).map { s in
                (0..<(6 + next() % 10)).map { _ in vocabulary[next() % vocabulary.count] }.joined(separator: " ").capitalized
                    + " note\(i)x\(s)."
            }
            let url = directory.appendingPathComponent(String(format: "note-%04d.md", i))
            try ("# Note \(i)\n\n" + sentences.joined(separator: " ") + "\n").write(to: url, atomically: true, encoding: .utf8)
            return url
        }
    }

    static func queries(_ n: Int, seed: UInt64 = 11) -> [String] {
        var state = seed
        return (0..<n).map { _ in
            (0..<(2 + Int(state % 4))).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return vocabulary[Int(state >> 33) % vocabulary.count]
            }.joined(separator: " ")
        }
    }
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-pg-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
