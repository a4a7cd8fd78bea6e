import Foundation
import MnemoCore
import MnemoModels
import MnemoStore
import Testing

/// MemoryService, AskService and ChatSession with a scripted encoder and model (ScriptedModels.swift):
/// the services' own logic — retrieval, the answer prompt, the tool fallback, abstention, the chat's
/// history and tool gate — in milliseconds, without a model file. The real models run the same paths in
/// the `realModel` suites.
@Suite struct InProcessServiceTests {
    static let notes = [
        "boiler.md": "The boiler was serviced in March 2025 by Priya Shah of Dunmore Heating. The next boiler service is due in March 2026.",
        "bread.md": "Sourdough bread needs a starter fed the day before. The dough rises for 25 minutes in a warm oven.",
        "bike.md": "The bike has a blue frame and a rear rack. Its tyres were replaced in June.",
    ]

    /// A store in a fresh directory with the three notes indexed.
    static func memory(_ embedder: ScriptedEmbedder) throws -> (MemoryService, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-inprocess-\(UUID().uuidString)").path
        let docs = dir + "/docs"
        try FileManager.default.createDirectory(atPath: docs, withIntermediateDirectories: true)
        for (name, text) in notes { try text.write(toFile: docs + "/" + name, atomically: true, encoding: .utf8) }
        let memory = try MemoryService(storeDirectory: dir + "/store", encoder: embedder, access: .write(createWith: .flat))
        _ = try memory.index(paths: [docs], options: IndexOptions())
        return (memory, dir)
    }

    @Test func indexReusesVectorsAndEveryModeFindsTheNote() throws {
        let embedder = ScriptedEmbedder()
        let (memory, dir) = try Self.memory(embedder)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let afterFirst = embedder.embedded
        #expect(afterFirst > 0)
        // Indexing the same files again embeds nothing: the documents are unchanged.
        let again = try memory.index(paths: [dir + "/docs"], options: IndexOptions())
        #expect(again.unchanged == 3 && again.added == 0)
        #expect(embedder.embedded == afterFirst)
        for mode in [QueryMode.dense, .bm25, .hybrid] {
            let hits = try memory.query("When is the next boiler service due?", k: 2, mode: mode)
            #expect(hits.first.map { $0.chunk.source.hasSuffix("boiler.md") } == true, "mode \(mode)")
        }
    }

    @Test func askPutsTheRetrievedNotesBeforeTheQuestion() throws {
        let embedder = ScriptedEmbedder()
        let (memory, dir) = try Self.memory(embedder)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = ScriptedChatModel { prompt in
            prompt.contains("Dunmore Heating") ? "Priya Shah of Dunmore Heating.\nMore text the answer does not keep." : "I do not know."
        }
        let service = AskService(memory: memory, model: model)
        for context in [MemoryContext.text, .sentences] {
            var options = AskOptions()
            options.context = context
            options.k = 2
            var streamed = ""
            let result = try service.ask("Who serviced the boiler?", options: options) { streamed += $0 }
            #expect(result.answer == "Priya Shah of Dunmore Heating", "context \(context)")
            #expect(result.answerable)
            #expect(streamed.contains("Priya Shah of Dunmore Heating"))
            #expect(result.sources.first.map { $0.source.hasSuffix("boiler.md") } == true)
            #expect(result.contextTokens > 0)
            let prompt = try #require(model.prompts.last)
            #expect(prompt.contains("Question: Who serviced the boiler?"))
            // The sentences mode keeps the note's sentences closest to the question, not whole chunks.
            if context == .sentences { #expect(!prompt.contains("rear rack")) }
        }
        var none = AskOptions()
        none.context = .none
        let bare = try service.ask("Who serviced the boiler?", options: none)
        #expect(bare.answer == "I do not know")
        #expect(bare.sources.isEmpty && bare.contextTokens == 0)
    }

    @Test func notInYourNotesIsUnanswerable() throws {
        let embedder = ScriptedEmbedder()
        let (memory, dir) = try Self.memory(embedder)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let service = AskService(memory: memory, model: ScriptedChatModel { _ in "Not in your notes." })
        let result = try service.ask("What colour is the kitchen?", options: AskOptions())
        #expect(result.answer == MemoryPrompt.notInNotes)
        #expect(!result.answerable)
    }

    /// The model passes prose to the calculator: the call is refused without a round spent on its error,
    /// and the question is answered without tools.
    @Test func aProseCalculatorCallIsRefusedAndTheAnswerComesWithoutTools() throws {
        let model = ScriptedChatModel { prompt in
            if prompt.hasSuffix("\"expression\": \"") { return "the boiler service\"}}" }
            if prompt.contains("<tools>") { return "<tool_call>" }
            return "3600"
        }
        let service = AskService(memory: nil, model: model)
        var options = AskOptions()
        options.context = .none
        options.tools = ["calc"]
        let result = try service.ask("What is the total cost if each of 3 boilers costs 1200?", options: options)
        #expect(result.toolsOffered == ["calculator"])
        #expect(result.answer == "3600")
        #expect(result.toolCalls.count == 1)
        #expect(result.toolCalls.first?.result == nil && result.toolCalls.first?.error != nil)
        // The last prompt offered no tools and does not hold the refused call.
        let last = try #require(model.prompts.last)
        #expect(!last.contains("<tools>") && !last.contains("the boiler service"))
    }

    @Test func aCalculatorCallRunsAndANotesQuestionIsNotOfferedTools() throws {
        let model = ScriptedChatModel { prompt in
            if prompt.hasSuffix("\"expression\": \"") { return "3 * 1200\"}}" }
            if prompt.contains("<tool_response>\n3600") { return "The total is 3600." }
            if prompt.contains("<tools>") { return "<tool_call>" }
            return prompt.contains("Dunmore") ? "Dunmore Heating" : "I do not know."
        }
        let service = AskService(memory: nil, model: model)
        var options = AskOptions()
        options.context = .none
        options.tools = ["calc"]
        let computed = try service.ask("What is the total cost if each of 3 boilers costs 1200?", options: options)
        #expect(computed.toolCalls.first?.result == "3600")
        #expect(computed.answer.contains("3600"))
        // No number and no computation word: the calculator is not offered (ToolGate).
        let plain = try service.ask("Who serviced the boiler?", options: options)
        #expect(plain.toolsOffered.isEmpty && plain.toolCalls.isEmpty)
        #expect(!(model.prompts.last ?? "").contains("<tools>"))
    }

    @Test func chatKeepsItsHistoryAndGatesTheCalculator() throws {
        let embedder = ScriptedEmbedder()
        let (memory, dir) = try Self.memory(embedder)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = ScriptedChatModel { prompt in
            let lastUser = prompt.components(separatedBy: "<|im_start|>user\n").last ?? ""
            if lastUser.contains("What is my bike lock code") { return prompt.contains("4172") ? "Your code is 4172." : "I do not know." }
            return "Noted."
        }
        let chats = try ChatStore(directory: dir + "/chats", encoder: embedder.name, dimension: embedder.dimension)
        var options = ChatOptions()
        options.tools = ["calc"]
        let session = try ChatSession(name: "t", model: model, encoder: embedder, chats: chats, memory: memory, projector: nil, options: options)
        let first = try session.send("My bike lock code is 4172.")
        #expect(first.answer == "Noted.")
        #expect(first.toolCalls.isEmpty)
        // A statement with a number but no computation: the prompt offered no calculator.
        #expect(!(model.prompts.last ?? "").contains("<tools>"))
        let second = try session.send("What is my bike lock code?")
        #expect(second.answer == "Your code is 4172.")
        #expect(second.turn == first.turn + 1)
        // Both exchanges are stored: a new session of the same name resumes them.
        let resumed = try ChatSession(name: "t", model: model, encoder: embedder, chats: chats, memory: memory, projector: nil, options: options)
        #expect(resumed.history.map(\.user) == ["My bike lock code is 4172.", "What is my bike lock code?"])
    }
}
