import Foundation
import Testing
@testable import MnemoStore

/// Chat sessions in chats.sqlite: turns with their vectors, numbering, forgetting, and bad input.
@Suite struct ChatStoreTests {
    func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-chats-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func turn(_ user: String, _ v: Float) -> ChatTurn {
        ChatTurn(number: 0, user: user, assistant: "ok", sources: ["/doc.txt"], embedding: [v, 0, 0],
                 sentences: [ChatSentence(turn: 0, role: "user", text: user, embedding: [0, v, 0]),
                             ChatSentence(turn: 0, role: "assistant", text: "ok", embedding: [0, 0, v])])
    }

    @Test func turnsPersistAndNumbersAreNeverReused() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var store: ChatStore? = try ChatStore(directory: dir, encoder: "enc", dimension: 3)
        #expect(try store?.append(turn("one", 1), session: "a") == 1)
        #expect(try store?.append(turn("two", 2), session: "a") == 2)
        #expect(try store?.append(turn("other", 3), session: "b") == 1)
        #expect(try store?.forget(turn: 2, session: "a") == true)
        #expect(try store?.forget(turn: 2, session: "a") == false)
        #expect(try store?.append(turn("three", 4), session: "a") == 3)
        store = nil

        let reopened = try ChatStore(directory: dir, encoder: "enc", dimension: 3)
        let turns = try reopened.turns(session: "a")
        #expect(turns.map(\.number) == [1, 3])
        #expect(turns.map(\.user) == ["one", "three"])
        #expect(turns[1].embedding == [4, 0, 0])
        #expect(turns[1].sentences.map(\.role) == ["user", "assistant"])
        #expect(turns[1].sentences.map(\.embedding) == [[0, 4, 0], [0, 0, 4]])
        #expect(turns[0].sources == ["/doc.txt"])
        #expect(Set(try reopened.sessions().map(\.name)) == ["a", "b"])
        #expect(try reopened.turns(session: "never").isEmpty)
    }

    @Test func badInputIsRefusedAndLosesNothing() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try ChatStore(directory: dir, encoder: "enc", dimension: 3)
        try store.append(turn("kept", 1), session: "s")
        for name in ["", "a b", "../x", String(repeating: "n", count: 65)] {
            #expect(throws: StoreError.self) { try store.append(turn("x", 1), session: name) }
        }
        var wrong = turn("wrong", 1)
        wrong.embedding = [1, 2]
        #expect(throws: StoreError.self) { try store.append(wrong, session: "s") }
        #expect(try store.turns(session: "s").map(\.user) == ["kept"])
        // Another encoder's vectors would be meaningless here: refused, naming both.
        do {
            _ = try ChatStore(directory: dir, encoder: "other", dimension: 3)
            Issue.record("opened with another encoder")
        } catch let e as StoreError {
            #expect(e.code == .incompatible && e.message.contains("enc") && e.message.contains("other"))
        }
    }

    @Test func aFileThatIsNotSQLiteIsAClearError() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = (dir as NSString).appendingPathComponent(ChatStore.fileName)
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        do {
            _ = try ChatStore(directory: dir, encoder: "enc", dimension: 3)
            Issue.record("opened a file of garbage")
        } catch let e as StoreError {
            #expect(e.code == .corrupt && e.message.contains(ChatStore.fileName))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(repeating: 0x41, count: 4096))
    }
}
