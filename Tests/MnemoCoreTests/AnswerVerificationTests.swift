import Foundation
import MnemoModels
import MnemoStore
import Testing
@testable import MnemoCore

/// "Not in your notes." by verification (opt-in): after answering, the model is asked whether the notes
/// state its answer; a lean to "no" beyond `withdrawAbove` withdraws it. Real encoder and Qwen 0.5B. (The
/// mechanism, not the threshold: Qwen 0.5B leans to "no" on this plain fact too, as on the dev slice.)
@Suite(.serialized, .tags(.realModel), .needsModels) struct AnswerVerificationTests {
    @Test func anAnswerIsCheckedAndWithdrawnBeyondTheThreshold_realModel() throws {
        let store = try NoteStore("The boiler was serviced by Dunmore Heating in March. The next service is due in March 2026.")
        defer { store.remove() }
        let memory = store.memory
        let service = AskService(memory: memory, model: try LanguageModel(path: ModelLocator.resolve("qwen-0.5b")))

        var options = AskOptions()
        options.verify = true
        options.withdrawAbove = 100  // beyond any margin (each side is at least −30): nothing is withdrawn
        let kept = try service.ask("Who serviced the boiler?", options: options)
        #expect(kept.answerable && kept.withdrawn == nil && kept.answer.contains("Dunmore"), "\(kept.answer)")
        let margin = try #require(kept.confidence?.verification)
        #expect(abs(margin) < 30)

        // The same answer with a threshold below its margin is withdrawn, and kept for the caller.
        options.withdrawAbove = margin - 1
        let withdrawn = try service.ask("Who serviced the boiler?", options: options)
        #expect(!withdrawn.answerable && withdrawn.answer == MemoryPrompt.notInNotes)
        #expect(withdrawn.withdrawn == kept.answer)

        options.verify = false
        let unchecked = try service.ask("Who serviced the boiler?", options: options)
        #expect(unchecked.answerable && unchecked.confidence?.verification == nil && unchecked.answer == kept.answer)
    }

    /// `AskOptions.captureLayers` (what `mnemo eval qa --states` writes for the answerability probe): the states
    /// at the end of the question's prompt match a fresh forward of that prompt, and capturing changes no answer.
    @Test func theDecoderStatesOfAnAnswerAreKept_realModel() throws {
        let store = try NoteStore("The boiler was serviced by Dunmore Heating in March. The next service is due in March 2026.")
        defer { store.remove() }
        let memory = store.memory
        let llm = try LanguageModel(path: ModelLocator.resolve("qwen-0.5b"))
        let service = AskService(memory: memory, model: llm)
        let question = "Who serviced the boiler?"

        var options = AskOptions()
        let plain = try service.ask(question, options: options)
        #expect(plain.states == nil)
        options.captureLayers = [10, 23]
        let captured = try service.ask(question, options: options)
        #expect(captured.answer == plain.answer)
        let states = try #require(captured.states)
        #expect(states.layers == [10, 23] && states.question.count == 2 && states.check.count == 2)
        #expect((states.question + states.check).allSatisfy { $0.count == llm.model.config.dim && $0.allSatisfy(\.isFinite) })
        #expect(states.question[1] != states.check[1])

        // The answer's prompt computed from scratch, in one batch: the same states as the cached single position.
        let notes = try AskService.notes(for: question, options: options, memory: memory, projector: nil, countTokens: llm.tokenCount)
        let (messages, softs) = MemoryPrompt.answerMessages(question, memories: notes.memories)
        let inputs = try MemoryPrompt(llm: llm).inputs(llm.chatPrompt(messages), softs: softs)
        let fresh = try llm.makeSession(capacity: inputs.count + 1).hiddenStates(inputs, layers: [10, 23])
        for (a, b) in zip(fresh, states.question) {
            let dot = zip(a, b).map { $0 * $1 }.reduce(0, +)
            let cosine = dot / (a.map { $0 * $0 }.reduce(0, +).squareRoot() * b.map { $0 * $0 }.reduce(0, +).squareRoot())
            #expect(cosine > 0.999, "cosine \(cosine)")
        }
        #expect(throws: ModelError.self) { try llm.makeSession(capacity: 8).hiddenStates([.token(1)], layers: [24]) }
    }
}
