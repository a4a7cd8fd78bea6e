import Foundation
import MnemoModels
import MnemoStore
import Testing
@testable import MnemoCore

/// An answer found in none of the sentences closest to the question is made again from the model's
/// next most likely first tokens (`AskOptions.requireSupport`). Real encoder and Qwen 0.5B.
@Suite(.serialized, .tags(.realModel), .needsModels) struct AnswerSupportTests {
    @Test func anAnswerOutsideTheClosestSentencesIsMadeAgain_realModel() throws {
        let store = try NoteStore("""
            The boiler was serviced by Dunmore Heating in March. The next service is due in March 2026. \
            The spare key is under the blue pot. The shed roof leaks when the wind comes from the west.
            """)
        defer { store.remove() }
        let memory = store.memory
        let model = try LanguageModel(path: ModelLocator.resolve("qwen-0.5b"))
        let service = AskService(memory: memory, model: model)
        let question = "Who serviced the boiler?"

        // Whole chunks: the support is what the sentences mode would show, under its budget.
        var options = AskOptions()
        options.context = .text
        let notes = try AskService.notes(for: question, options: options, memory: memory, projector: nil, countTokens: model.tokenCount)
        let chosen = try memory.closestSentences(question, hits: notes.hits, selection: options.sentences, countTokens: model.tokenCount)
        #expect(!notes.support.isEmpty && notes.support == chosen.chosen.map(\.sentence.text))
        #expect(notes.support.contains { $0.contains("Dunmore") })
        options.requireSupport = false
        #expect(try AskService.notes(for: question, options: options, memory: memory, projector: nil, countTokens: model.tokenCount).support.isEmpty)
        options.requireSupport = true

        // Supported: answered once. Unsupported: made again (more tokens), and where no retry is
        // supported either, the first answer stays.
        let first = try service.answer(question, notes: notes, options: options)
        #expect(first.answerable && first.answer.contains("Dunmore"), "\(first.answer)")
        var unsupported = notes
        unsupported.support = ["The shed roof leaks when the wind comes from the west."]
        let again = try service.answer(question, notes: unsupported, options: options)
        #expect(again.generatedTokens > first.generatedTokens, "\(again.generatedTokens) vs \(first.generatedTokens)")
        #expect(again.answer == first.answer || unsupported.support[0].lowercased().contains(again.answer.lowercased()), "\(again.answer)")
        var streamed = ""
        options.requireSupport = false
        let unchecked = try service.answer(question, notes: unsupported, options: options, onToken: { streamed += $0 })
        #expect(unchecked.answer == first.answer && unchecked.generatedTokens == first.generatedTokens)
        #expect(streamed.contains(unchecked.answer))
    }
}
