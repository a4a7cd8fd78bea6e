import MnemoCore
import Testing

/// Stage-2 cloze items (`ProjectorData.clozeItems`): a number or a capitalised name blanked out of a sentence.
@Suite struct ClozeDataTests {
    @Test func numbersAndNamesAreBlankedOneAtATime() {
        let items = ProjectorData.clozeItems("The Normans were conquered by Duke Rollo of Normandy in 911, with 3,000 men.")
        let answers = items.map(\.answer)
        #expect(answers.contains("911"))
        #expect(answers.contains("3,000"))
        #expect(answers.contains("Duke Rollo of Normandy"))
        // The sentence's first word is never a span, capitalised or not.
        #expect(!answers.contains("The"))
        for item in items {
            #expect(item.question.hasPrefix("Fill in the blank: "))
            #expect(item.question.contains("____") && !item.question.contains(item.answer))
        }
    }

    @Test func shortOrPlainSentencesGiveNone() {
        #expect(ProjectorData.clozeItems("It rained in 1066.").isEmpty)
        #expect(ProjectorData.clozeItems("the dough rises slowly in a warm place overnight").isEmpty)
    }
}
