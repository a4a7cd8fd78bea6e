import Foundation
import MnemoSQLite

/// One sentence of a stored turn, with its sentence vector.
public struct ChatSentence: Sendable, Equatable {
    public var turn: Int
    /// `user` or `assistant`.
    public var role: String
    public var text: String
    public var embedding: [Float]

    public init(turn: Int, role: String, text: String, embedding: [Float]) {
        self.turn = turn
        self.role = role
        self.text = text
        self.embedding = embedding
    }
}

/// One exchange of a chat session: the user's message and the answer, with the vector of the whole
/// exchange and of each sentence.
public struct ChatTurn: Sendable, Equatable {
    /// 1-based, in order; never reused in a session (a forgotten turn leaves a gap).
    public var number: Int
    public var user: String
    public var assistant: String
    /// The document sources the answer drew on.
    public var sources: [String]
    public var createdAt: String
    /// The encoder's vector of the whole exchange (one soft token per turn).
    public var embedding: [Float]
    public var sentences: [ChatSentence]

    public init(number: Int, user: String, assistant: String, sources: [String] = [], createdAt: String = "",
                embedding: [Float], sentences: [ChatSentence]) {
        self.number = number
        self.user = user
        self.assistant = assistant
        self.sources = sources
        self.createdAt = createdAt
        self.embedding = embedding
        self.sentences = sentences
    }
}

/// A session's name, size and last use, for listings.
public struct ChatSessionInfo: Sendable, Codable, Equatable {
    public var name: String
    public var turns: Int
    public var updatedAt: String

    enum CodingKeys: String, CodingKey {
        case name, turns
        case updatedAt = "updated_at"
    }
}

/// Chat sessions, kept in `chats.sqlite` beside the store's documents: every turn as text and as vectors
/// (one per sentence and one per turn, float32 little-endian blobs). Its own file, so a chat writes
/// without taking the document store's writer lock; SQLite's WAL lets several chats share it.
public final class ChatStore {
    public let path: String
    public let encoder: String
    public let dimension: Int
    let db: SQLiteDatabase

    public static let fileName = "chats.sqlite"

    static let migrations = [
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            next_turn INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
            updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
        );
        CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            user_text TEXT NOT NULL,
            assistant_text TEXT NOT NULL,
            sources TEXT NOT NULL DEFAULT '[]',
            embedding BLOB NOT NULL,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
            UNIQUE (session_id, number)
        );
        CREATE TABLE sentences (
            id INTEGER PRIMARY KEY,
            turn_id INTEGER NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            ordinal INTEGER NOT NULL,
            text TEXT NOT NULL,
            embedding BLOB NOT NULL
        );
        CREATE INDEX sentences_by_turn ON sentences (turn_id);
        """,
    ]

    /// Opens (creating if needed) the chat file in `directory`. Its vectors must come from `encoder`.
    public init(directory: String, encoder: String, dimension: Int) throws {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw StoreError(.io, "\(directory): cannot create the store directory (\(error.localizedDescription))")
        }
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        self.encoder = encoder
        self.dimension = dimension
        do {
            db = try MemoryStore.openDatabase(path)
            try Migrator(migrations: Self.migrations).migrate(db)
        } catch let error as SQLiteError {
            throw StoreError(.corrupt, "\(path): not a usable chat file (\(error.message))")
        }
        try db.transaction {
            let meta = Dictionary(try db.query("SELECT key, value FROM meta").compactMap { row in
                row[0].string.flatMap { k in row[1].string.map { (k, $0) } }
            }, uniquingKeysWith: { a, _ in a })
            if let stored = meta["encoder"] {
                guard stored == encoder, meta["dimension"] == String(dimension) else {
                    throw StoreError(.incompatible, "\(path): chats were stored with encoder \(stored) (\(meta["dimension"] ?? "?") dimensions); this command uses \(encoder) (\(dimension))")
                }
            } else {
                try db.run("INSERT INTO meta VALUES ('encoder', ?), ('dimension', ?)", [.text(encoder), .text(String(dimension))])
            }
        }
    }

    /// Checks a session name: what a user can type after `/session`.
    public static func validate(sessionName name: String) throws {
        guard !name.isEmpty, name.count <= 64,
              name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) }) else {
            throw StoreError(.badInput, "session name \(name.debugDescription): use 1-64 letters, digits, '-', '_' or '.'")
        }
    }

    public func sessions() throws -> [ChatSessionInfo] {
        try db.query("""
            SELECT s.name, (SELECT count(*) FROM turns t WHERE t.session_id = s.id), s.updated_at
            FROM sessions s ORDER BY s.updated_at DESC, s.name
            """).map { ChatSessionInfo(name: $0[0].string ?? "", turns: Int($0[1].int ?? 0), updatedAt: $0[2].string ?? "") }
    }

    /// The session's turns in order, with their vectors.
    public func turns(session: String) throws -> [ChatTurn] {
        try Self.validate(sessionName: session)
        var turns: [ChatTurn] = []
        var byID: [Int64: Int] = [:]
        for row in try db.query("""
            SELECT t.id, t.number, t.user_text, t.assistant_text, t.sources, t.created_at, t.embedding
            FROM turns t JOIN sessions s ON s.id = t.session_id WHERE s.name = ? ORDER BY t.number
            """, [.text(session)]) {
            guard let id = row[0].int, let number = row[1].int else { continue }
            let sources = (row[4].string?.data(using: .utf8)).flatMap { try? JSONDecoder().decode([String].self, from: $0) } ?? []
            byID[id] = turns.count
            turns.append(ChatTurn(number: Int(number), user: row[2].string ?? "", assistant: row[3].string ?? "", sources: sources,
                                  createdAt: row[5].string ?? "", embedding: try decode(row[6].data, what: "turn \(number)"), sentences: []))
        }
        for row in try db.query("""
            SELECT e.turn_id, e.role, e.text, e.embedding FROM sentences e
            JOIN turns t ON t.id = e.turn_id JOIN sessions s ON s.id = t.session_id
            WHERE s.name = ? ORDER BY t.number, e.role = 'assistant', e.ordinal
            """, [.text(session)]) {
            guard let id = row[0].int, let i = byID[id] else { continue }
            turns[i].sentences.append(ChatSentence(turn: turns[i].number, role: row[1].string ?? "user", text: row[2].string ?? "",
                                                   embedding: try decode(row[3].data, what: "a sentence of turn \(turns[i].number)")))
        }
        return turns
    }

    /// Stores an exchange as the session's next turn (creating the session); returns its number. The
    /// turn's `number` is ignored. One transaction: a turn is stored whole or not at all.
    @discardableResult
    public func append(_ turn: ChatTurn, session: String) throws -> Int {
        try Self.validate(sessionName: session)
        for v in [turn.embedding] + turn.sentences.map(\.embedding) where v.count != dimension {
            throw StoreError(.badInput, "a chat vector has \(v.count) dimensions, the chat file \(dimension)")
        }
        return try db.transaction {
            try db.run("INSERT INTO sessions (name) VALUES (?) ON CONFLICT (name) DO NOTHING", [.text(session)])
            guard let row = try db.query("SELECT id, next_turn FROM sessions WHERE name = ?", [.text(session)]).first,
                  let sessionID = row[0].int, let number = row[1].int else {
                throw StoreError(.corrupt, "\(path): session \(session) vanished while writing")
            }
            let sources = String(decoding: try JSONEncoder().encode(turn.sources), as: UTF8.self)
            try db.run("INSERT INTO turns (session_id, number, user_text, assistant_text, sources, embedding) VALUES (?, ?, ?, ?, ?, ?)",
                       [.integer(sessionID), .integer(number), .text(turn.user), .text(turn.assistant), .text(sources),
                        .blob(Self.encode(turn.embedding))])
            let turnID = db.lastInsertRowID
            let insert = try db.prepare("INSERT INTO sentences (turn_id, role, ordinal, text, embedding) VALUES (?, ?, ?, ?, ?)")
            for (i, s) in turn.sentences.enumerated() {
                try insert.run([.integer(turnID), .text(s.role), .integer(Int64(i)), .text(s.text), .blob(Self.encode(s.embedding))])
            }
            try db.run("UPDATE sessions SET next_turn = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?",
                       [.integer(number + 1), .integer(sessionID)])
            return Int(number)
        }
    }

    /// Deletes turn `number` of the session, text and vectors; false when there is no such turn.
    public func forget(turn number: Int, session: String) throws -> Bool {
        try Self.validate(sessionName: session)
        return try db.transaction {
            try db.run("DELETE FROM turns WHERE number = ? AND session_id = (SELECT id FROM sessions WHERE name = ?)",
                       [.integer(Int64(number)), .text(session)])
            return db.changes > 0
        }
    }

    static func encode(_ v: [Float]) -> Data { v.withUnsafeBufferPointer { Data(buffer: $0) } }

    private func decode(_ blob: Data?, what: String) throws -> [Float] {
        guard let blob, blob.count == dimension * 4 else {
            throw StoreError(.corrupt, "\(path): \(what) has a \(blob?.count ?? 0)-byte vector, expected \(dimension * 4)")
        }
        return blob.withUnsafeBytes { raw in (0..<dimension).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }
}
