import Foundation
import Testing
import MnemoModels
import MnemoStore
@testable import MnemoCore

extension Tag {
    /// Reads the installed models (`make setup` puts them in $MNEMO_MODELS).
    @Tag static var realModel: Self
}

extension Trait where Self == ConditionTrait {
    /// For suites tagged `realModel`: `make check` (MNEMO_CHECK=1) leaves them out, as the toolchain's
    /// `swift test` cannot skip by tag; `make test` runs every one.
    static var needsModels: Self {
        .enabled(if: ProcessInfo.processInfo.environment["MNEMO_CHECK"] != "1", "make check runs only tests that need no model file")
    }
}

/// A store in a fresh temporary directory holding one note, indexed with the real encoder (flat index).
/// `remove()` deletes the directory.
struct NoteStore {
    let directory: URL
    let memory: MemoryService

    init(_ text: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-note-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let note = directory.appendingPathComponent("note.txt")
        try text.write(to: note, atomically: true, encoding: .utf8)
        let encoder = try SentenceEncoder(directory: ModelLocator.resolve(ModelLocator.defaultEncoder))
        memory = try MemoryService(storeDirectory: directory.appendingPathComponent("store").path, encoder: encoder,
                                   access: .write(createWith: .flat))
        _ = try memory.index(paths: [note.path], options: IndexOptions())
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}
