import Foundation
import Testing
@testable import MnemoIngest

/// A text document of `text`, as the reader would make it.
private func textDocument(_ text: String, offset: Int = 0) -> ExtractedDocument {
    ExtractedDocument(source: "t.txt", format: .text, segments: [
        ExtractedSegment(text: text, byteRange: offset..<(offset + text.utf8.count), textOffset: offset),
    ])
}

/// "Sentence k has some words." with `words` words in all.
private func sentence(_ k: Int, words: Int) -> String {
    (["Sentence\(k)"] + Array(repeating: "word", count: max(0, words - 2)) + ["end\(k)."]).joined(separator: " ")
}

@Suite struct ChunkerTests {
    @Test func targetSizeRespected() {
        let text = (0..<40).map { sentence($0, words: 10) }.joined(separator: " ")
        let options = ChunkingOptions(targetTokens: 35, overlapSentences: 0, maxTokens: 60)
        let chunks = Chunker.chunk(textDocument(text), options: options, countTokens: wordCount)
        #expect(chunks.count == 14)  // three 10-word sentences a chunk, 40 sentences
        for chunk in chunks { #expect(wordCount(chunk.text) <= 35) }
        #expect(chunks.dropLast().allSatisfy { wordCount($0.text) == 30 })
        #expect(chunks.map(\.ordinal) == Array(0..<14))
        // Without overlap the chunks tile the text: in order, with only whitespace between them.
        var position = 0
        let bytes = Array(text.utf8)
        for chunk in chunks {
            #expect(chunk.byteRange.lowerBound >= position)
            #expect(bytes[position..<chunk.byteRange.lowerBound].allSatisfy { $0 == 0x20 })
            position = chunk.byteRange.upperBound
        }
        #expect(position == bytes.count)
    }

    @Test func overlapRepeatsTheLastSentences() {
        let sentences = (0..<30).map { sentence($0, words: 8) }
        let text = sentences.joined(separator: "\n")
        for overlap in [1, 2] {
            let options = ChunkingOptions(targetTokens: 40, overlapSentences: overlap, maxTokens: 80)
            let chunks = Chunker.chunk(textDocument(text), options: options, countTokens: wordCount)
            #expect(chunks.count > 5)
            for (previous, next) in zip(chunks, chunks.dropFirst()) {
                let previousSentences = SentenceSplitter.split(previous.text).map { String(previous.text[$0]) }
                let nextSentences = SentenceSplitter.split(next.text).map { String(next.text[$0]) }
                #expect(Array(nextSentences.prefix(overlap)) == Array(previousSentences.suffix(overlap)))
                #expect(nextSentences.count > overlap)  // and something new
                #expect(wordCount(next.text) <= 40)
            }
            // Every sentence is in some chunk.
            let all = Set(chunks.flatMap { c in SentenceSplitter.split(c.text).map { String(c.text[$0]) } })
            #expect(all == Set(sentences))
        }
    }

    @Test func overlapNeverCrowdsOutNewText() {
        // Sentences of 30 words with a target of 40: an overlap sentence would take more than half.
        let text = (0..<6).map { sentence($0, words: 30) }.joined(separator: " ")
        let chunks = Chunker.chunk(textDocument(text), options: ChunkingOptions(targetTokens: 40, overlapSentences: 1, maxTokens: 80),
                                   countTokens: wordCount)
        #expect(chunks.count == 6)
        #expect(chunks.allSatisfy { wordCount($0.text) == 30 })
    }

    @Test func byteRangesAreExact() throws {
        let dir = try TempDir()
        let text = """
        Première phrase avec des accents: é, à, ü. 😀 Emoji in the second sentence!
        中文的句子。日本語の文です。

        A paragraph after a blank line, with “quotes” and — dashes. Last one…
        """
        let path = try dir.write("utf8.md", [0xEF, 0xBB, 0xBF] + Array(text.utf8))
        let doc = try DocumentReader.read(path: path).document
        let chunks = Chunker.chunk(doc, options: ChunkingOptions(targetTokens: 12, overlapSentences: 1, maxTokens: 20),
                                   countTokens: byteQuarterCount)
        #expect(chunks.count > 3)
        for chunk in chunks {
            #expect(try slice(path, chunk.byteRange) == chunk.text)
            #expect(byteQuarterCount(chunk.text) <= 20)
        }
    }

    @Test func longSentenceSplitAtWords() {
        let words = (0..<1000).map { "w\($0)" }
        let text = words.joined(separator: " ") + "."
        let options = ChunkingOptions(targetTokens: 128, overlapSentences: 1, maxTokens: 256)
        let chunks = Chunker.chunk(textDocument(text), options: options, countTokens: bertLikeCount)
        #expect(chunks.count >= 8)
        var seen: [String] = []
        for chunk in chunks {
            #expect(bertLikeCount(chunk.text) <= 256)
            #expect(bertLikeCount(chunk.text) <= 128)  // pieces of a cut sentence aim at the target
            seen += chunk.text.split(separator: " ").map(String.init)
        }
        // Cut only between words, nothing lost or repeated (pieces of one sentence do not overlap).
        #expect(seen == Array(words.dropLast()) + [words[999] + "."])
    }

    @Test func enormousWordIsCutInside() {
        let word = String(repeating: "é", count: 3000) + "x"  // 6001 bytes
        let text = "Short start. " + word + " tail."
        let options = ChunkingOptions(targetTokens: 100, overlapSentences: 0, maxTokens: 200)
        let chunks = Chunker.chunk(textDocument(text), options: options, countTokens: byteQuarterCount)
        #expect(chunks.allSatisfy { byteQuarterCount($0.text) <= 100 })
        #expect(chunks.first?.text == "Short start.")
        // Cut at scalar boundaries with nothing lost; the last piece and " tail." share a chunk.
        #expect(chunks.dropFirst().map(\.text).joined() == word + " tail.")
        #expect(chunks.count == 1 + (6001 + 6 + 399) / 400)
    }

    @Test func oversizedWordThatFitsTheLimitStaysWhole() {
        let word = String(repeating: "a", count: 600)  // 150 tokens: over the target, within the limit
        let tail = Array(repeating: "tail", count: 60).joined(separator: " ")  // 75 tokens
        let text = "one two " + word + " " + tail  // 227 tokens: over the limit, so cut at words
        let chunks = Chunker.chunk(textDocument(text), options: ChunkingOptions(targetTokens: 100, overlapSentences: 0, maxTokens: 200),
                                   countTokens: byteQuarterCount)
        #expect(chunks.map(\.text) == ["one two", word, tail])
    }

    @Test func jsonlRecordsNeverMerge() throws {
        let dir = try TempDir()
        let records = (0..<20).map { #"{"text": "Record \#($0) is short. It has two sentences.", "n": \#($0)}"# }
        let path = try dir.write("r.jsonl", records.joined(separator: "\n"))
        let doc = try DocumentReader.read(path: path).document
        let chunks = Chunker.chunk(doc, options: ChunkingOptions(targetTokens: 1000, overlapSentences: 1, maxTokens: 2000),
                                   countTokens: wordCount)
        #expect(chunks.count == 20)
        for (k, chunk) in chunks.enumerated() {
            #expect(chunk.text == "Record \(k) is short. It has two sentences.")
            #expect(chunk.metadata == ["n": "\(k)"])
            #expect(try slice(path, chunk.byteRange) == chunk.text)  // unescaped: exact range inside the line
        }
        // An escaped record's chunks fall back on the line's range.
        let escaped = try dir.write("e.jsonl", #"{"text": "Tab\there. Next sentence."}"#)
        let escapedDoc = try DocumentReader.read(path: escaped).document
        let escapedChunks = Chunker.chunk(escapedDoc, options: ChunkingOptions(targetTokens: 2, overlapSentences: 0, maxTokens: 4),
                                          countTokens: wordCount)
        #expect(escapedChunks.map(\.text) == ["Tab\there.", "Next sentence."])
        #expect(escapedChunks.allSatisfy { $0.byteRange == escapedDoc.segments[0].byteRange })
    }

    @Test func htmlChunksSpanTheFile() throws {
        let dir = try TempDir()
        let html = "<p>One sentence here.</p><p>Another one there.</p>"
        let path = try dir.write("p.html", html)
        let doc = try DocumentReader.read(path: path).document
        let chunks = Chunker.chunk(doc, options: ChunkingOptions(targetTokens: 3, overlapSentences: 0, maxTokens: 6), countTokens: wordCount)
        #expect(chunks.map(\.text) == ["One sentence here.", "Another one there."])
        #expect(chunks.allSatisfy { $0.byteRange == 0..<html.utf8.count })
    }

    @Test func specialTokensCountedOncePerChunk() {
        // bertLikeCount adds 2 for [CLS]/[SEP] to every call; a chunk of several sentences pays it once.
        let text = (0..<20).map { "Sentence number \($0) ends" + "." }.joined(separator: " ")
        let chunks = Chunker.chunk(textDocument(text), options: ChunkingOptions(targetTokens: 20, overlapSentences: 0, maxTokens: 30),
                                   countTokens: bertLikeCount)
        // Each sentence is 5 tokens + 2 special: three sentences (15 + 2) fit in 20.
        #expect(chunks.count == 7)
        #expect(chunks.allSatisfy { bertLikeCount($0.text) <= 20 })
    }

    @Test func truncatingCounterIsCaught() {
        // Like an encoder's tokenizer capped at 256 tokens ([CLS] and [SEP] removed: 254).
        let truncating: (String) -> Int = { min(wordCount($0), 254) }
        let medium = (0..<400).map { "m\($0)" }.joined(separator: " ") + "."  // 400 words, counted as 254
        let long = (0..<5000).map { "l\($0)" }.joined(separator: " ") + "."  // the halves are capped too
        for text in [medium, long] {
            let chunks = Chunker.chunk(textDocument(text), options: ChunkingOptions(targetTokens: 128, overlapSentences: 1, maxTokens: 254),
                                       countTokens: truncating)
            #expect(chunks.allSatisfy { wordCount($0.text) <= 128 })
            #expect(chunks.reduce(0) { $0 + wordCount($1.text) } == wordCount(text))
        }
    }

    @Test func degenerateOptions() {
        let text = "One two three. Four five six."
        let zero = Chunker.chunk(textDocument(text), options: ChunkingOptions(targetTokens: 0, overlapSentences: -3, maxTokens: 0),
                                 countTokens: wordCount)
        #expect(zero.allSatisfy { wordCount($0.text) <= 1 })
        #expect(zero.map(\.text).joined(separator: " ") == text)
        let empty = Chunker.chunk(ExtractedDocument(source: "x", format: .text, segments: []), options: ChunkingOptions(), countTokens: wordCount)
        #expect(empty.isEmpty)
        let blank = Chunker.chunk(textDocument("   \n\n  "), options: ChunkingOptions(), countTokens: wordCount)
        #expect(blank.isEmpty)
    }

    /// A line of `bytes` bytes of words with no sentence punctuation, written to a file and read back.
    private func chunkLongLine(bytes target: Int, in dir: TempDir) throws -> (chunks: [Chunk], words: Int, seconds: Double) {
        let vocabulary = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
                          "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "mémoire"]
        var bytes: [UInt8] = []
        bytes.reserveCapacity(target + 16)
        var words = 0
        while bytes.count < target {
            if words > 0 { bytes.append(0x20) }
            bytes += vocabulary[(words * 7 + words / 3) % vocabulary.count].utf8
            words += 1
        }
        // Built directly: the reader refuses lines over its 1 MiB limit (tested below); the chunker
        // itself must still be linear on them.
        let text = String(decoding: bytes, as: UTF8.self)
        let started = Date()
        let doc = ExtractedDocument(source: "line\(target).txt", format: .text,
                                    segments: [ExtractedSegment(text: text, byteRange: 0..<bytes.count, textOffset: 0)])
        let chunks = Chunker.chunk(doc, options: ChunkingOptions(), countTokens: wordCount)
        return (chunks, words, Date().timeIntervalSince(started))
    }

    @Test func longLineWithoutPunctuation() throws {
        let dir = try TempDir()
        let small = try chunkLongLine(bytes: 1 << 20, in: dir)
        let large = try chunkLongLine(bytes: 5 << 20, in: dir)
        for run in [small, large] {
            #expect(run.chunks.allSatisfy { wordCount($0.text) <= 256 })
            #expect(run.chunks.allSatisfy { wordCount($0.text) <= 128 })
            #expect(run.chunks.reduce(0) { $0 + wordCount($1.text) } == run.words)  // nothing lost or repeated
            #expect(run.chunks.count == (run.words + 127) / 128)
        }
        // Timing is reported, not asserted: roughly 5x from 1 MB to 5 MB means linear.
        print("long line: 1 MiB \(String(format: "%.2f", small.seconds)) s, 5 MiB \(String(format: "%.2f", large.seconds)) s")
    }

    /// The brief's 50 MB single-line file: refused by the reader with a reason, quickly.
    @Test func fiftyMegabyteLineIsSkippedWithAReason() throws {
        let dir = try TempDir()
        let path = try dir.write("oneline.txt", [UInt8](repeating: 0x61, count: 50 << 20))
        let error = #expect(throws: SkipReason.self) { try DocumentReader.read(path: path) }
        #expect(error?.reason.contains("line limit") == true)
    }
}
