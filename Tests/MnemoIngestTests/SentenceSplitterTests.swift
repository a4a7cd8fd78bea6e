import Testing
@testable import MnemoIngest

/// The sentences of `text` as strings.
private func sentences(_ text: String) -> [String] {
    SentenceSplitter.split(text).map { String(text[$0]) }
}

@Suite struct SentenceSplitterTests {
    @Test func basicPunctuation() {
        #expect(sentences("Hello world. How are you? Fine! Really?! Yes.") ==
                ["Hello world.", "How are you?", "Fine!", "Really?!", "Yes."])
        #expect(sentences("No punctuation at all") == ["No punctuation at all"])
        #expect(sentences("") == [])
        #expect(sentences("  \n\n \t ") == [])
        #expect(sentences("  Leading and trailing space.   ") == ["Leading and trailing space."])
    }

    @Test func abbreviations() {
        #expect(sentences("Dr. Smith met Mr. Jones and Mrs. Brown on St. Mark's square. They talked.") ==
                ["Dr. Smith met Mr. Jones and Mrs. Brown on St. Mark's square.", "They talked."])
        #expect(sentences("Use fruit, e.g. apples, i.e. red ones. Cats vs. dogs is old.") ==
                ["Use fruit, e.g. apples, i.e. red ones.", "Cats vs. dogs is old."])
        #expect(sentences("The U.S. Army was there (see Fig. 3). It was big.") ==
                ["The U.S. Army was there (see Fig. 3).", "It was big."])
        #expect(sentences("See No. 5 for details. I said no. Then I left.") ==
                ["See No. 5 for details.", "I said no.", "Then I left."])
        // "etc." ends a sentence only before a capital letter.
        #expect(sentences("Apples, pears, etc. are fruit. We ate apples etc. Then we left.") ==
                ["Apples, pears, etc. are fruit.", "We ate apples etc.", "Then we left."])
        #expect(sentences("Meet at 10 a.m. tomorrow. The I.B.M. team came. I.B.M. Then more.") ==
                ["Meet at 10 a.m. tomorrow.", "The I.B.M. team came.", "I.B.M.", "Then more."])
    }

    @Test func numbersAndInitials() {
        #expect(sentences("Pi is about 3.14159 and e is 2.718. Next one.") ==
                ["Pi is about 3.14159 and e is 2.718.", "Next one."])
        #expect(sentences("J. R. R. Tolkien wrote it. C. S. Lewis did too.") ==
                ["J. R. R. Tolkien wrote it.", "C. S. Lewis did too."])
        #expect(sentences("It happened in 1999. Then 2000 came.") == ["It happened in 1999.", "Then 2000 came."])
        #expect(sentences("Visit example.com today. Or www.test.org.") == ["Visit example.com today.", "Or www.test.org."])
        #expect(sentences("1. First item\n2. Second item") == ["1. First item", "2. Second item"])
    }

    @Test func ellipsesAndQuotes() {
        #expect(sentences("Wait... what happened? Nothing… Then it rained.") ==
                ["Wait... what happened?", "Nothing…", "Then it rained."])
        #expect(sentences("\"Well...\" he said. \"Stop!\" she cried. He said \"go!\" and left.") ==
                ["\"Well...\" he said.", "\"Stop!\" she cried.", "He said \"go!\" and left."])
        #expect(sentences("He left (finally.) Then we ate. “Is it?” Yes.") ==
                ["He left (finally.)", "Then we ate.", "“Is it?”", "Yes."])
        #expect(sentences("**Note.** Text follows. Done.") == ["**Note.**", "Text follows.", "Done."])
    }

    @Test func cjk() {
        #expect(sentences("今天天气很好。我们去公园吧！你来吗？好的") == ["今天天气很好。", "我们去公园吧！", "你来吗？", "好的"])
        #expect(sentences("「行こう。」と彼は言った。English too. 中文。") ==
                ["「行こう。」", "と彼は言った。", "English too.", "中文。"])
        #expect(sentences("日本語の文です｡次の文") == ["日本語の文です｡", "次の文"])
    }

    @Test func lineBreaks() {
        #expect(sentences("Title\n\nBody text here\nwith a line break. End.") ==
                ["Title", "Body text here\nwith a line break.", "End."])
        #expect(sentences("Windows\r\n\r\nline ends\r\nkept together.") == ["Windows", "line ends\r\nkept together."])
        #expect(sentences("Blank line with spaces\n   \t\nnext") == ["Blank line with spaces", "next"])
        #expect(sentences("Page one\u{0C}Page two") == ["Page one", "Page two"])
        #expect(sentences("# Heading\nSome text.\n- item one\n- item two\n* star\n## Sub\nmore") ==
                ["# Heading", "Some text.", "- item one", "- item two", "* star", "## Sub", "more"])
        #expect(sentences("#hashtag not a heading\nsame sentence") == ["#hashtag not a heading\nsame sentence"])
    }

    @Test func rangesAreTrimmedOrderedAndCoverTheText() {
        let text = "  Émile arrived. 😀 Emoji here!  \n\n  Combining e\u{301} too. Last "
        let ranges = SentenceSplitter.split(text)
        #expect(ranges.map { String(text[$0]) } == ["Émile arrived.", "😀 Emoji here!", "Combining e\u{301} too.", "Last"])
        var previous = text.startIndex
        for range in ranges {
            #expect(range.lowerBound >= previous)
            #expect(text[previous..<range.lowerBound].allSatisfy { $0.isWhitespace })
            previous = range.upperBound
        }
        #expect(text[previous...].allSatisfy { $0.isWhitespace })
    }

    @Test func longInputIsLinear() {
        // 2 MB of sentences and 2 MB without any punctuation or spaces both finish quickly.
        let text = String(repeating: "A short sentence here. ", count: 90_000)
        #expect(SentenceSplitter.split(text).count == 90_000)
        let blob = String(repeating: "x", count: 2_000_000)
        #expect(SentenceSplitter.split(blob).count == 1)
        let dots = String(repeating: "a.", count: 1_000_000)
        #expect(SentenceSplitter.split(dots).count == 1)
    }
}
