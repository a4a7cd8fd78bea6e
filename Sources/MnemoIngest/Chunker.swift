/// Packs sentences into chunks of about `targetTokens` tokens.
///
/// Works on UTF-8 offsets throughout: sentences are split once, each is counted once, and each
/// chunk is counted once more to check it (the counter need not be additive: WordPiece with
/// [CLS]/[SEP] adds a constant, which is measured as `countTokens("")` and allowed for). A sentence
/// over `maxTokens` is cut at word boundaries into pieces of at most `targetTokens`, found by a
/// galloping search from an estimate, so the cost stays linear in the text (times a log factor of
/// the piece size), even for a 50 MB line without punctuation.
///
/// `countTokens` should count all of its text. A counter that truncates at some length (as an
/// encoder's `encode` does) is caught for sentences up to about twice that length, by counting
/// their halves, but not beyond, so give the chunker a count without truncation.
public enum Chunker {
    /// Splits each segment into sentences, then packs consecutive sentences into chunks: each chunk
    /// starts with the last `overlapSentences` sentences of the one before (as many as fit in half
    /// of `targetTokens`, so overlap never crowds out new text), takes at least one new sentence,
    /// and takes more while it stays within `targetTokens`. So a chunk passes `targetTokens` only
    /// through its overlap or a single long sentence, and never passes `maxTokens`: sentences over
    /// `maxTokens` are cut at word boundaries into pieces of at most `targetTokens` (inside a word
    /// only when the word alone is over `maxTokens`), and overlap is dropped where it would not fit.
    /// Chunks never cross segments, so .jsonl records and pdf pages stay apart. A chunk's text is a
    /// verbatim slice of its segment's text (trimmed of whitespace); its byteRange is exact in the
    /// file when the segment has a `textOffset` (text, markdown, unescaped .jsonl), and the
    /// segment's byteRange otherwise (html, pdf, escaped .jsonl).
    public static func chunk(_ document: ExtractedDocument, options: ChunkingOptions, countTokens: (String) -> Int) -> [Chunk] {
        let target = max(1, options.targetTokens)
        let limit = max(target, options.maxTokens)
        let overlap = max(0, options.overlapSentences)
        let base = max(0, countTokens(""))
        var chunks: [Chunk] = []
        let sizes = Sizes(target: target, limit: limit, base: base)
        for segment in document.segments {
            func process(_ b: UnsafeBufferPointer<UInt8>) {
                func count(_ range: Range<Int>) -> Int { countTokens(UTF8Bytes.string(b, range)) }
                let units = sentenceUnits(b, sizes, count)
                for range in pack(units, sizes, overlap: overlap, count) {
                    let byteRange = segment.textOffset.map { ($0 + range.lowerBound)..<($0 + range.upperBound) } ?? segment.byteRange
                    chunks.append(Chunk(text: UTF8Bytes.string(b, range), byteRange: byteRange,
                                        metadata: segment.metadata, ordinal: chunks.count))
                }
            }
            // Native strings lend their UTF-8 storage; others are copied once.
            if segment.text.utf8.withContiguousStorageIfAvailable(process) == nil {
                Array(segment.text.utf8).withUnsafeBufferPointer(process)
            }
        }
        return chunks
    }

    struct Sizes {
        let target: Int
        let limit: Int
        /// What the counter gives for no text (special tokens), counted once per chunk, not per sentence.
        let base: Int
    }

    /// A sentence, or a piece of an over-long one, with its token count as counted alone.
    struct Unit {
        var range: Range<Int>
        var tokens: Int
    }

    @inline(__always)
    static func cost(_ unit: Unit, _ sizes: Sizes) -> Int { max(0, unit.tokens - sizes.base) }

    static func sentenceUnits(_ b: UnsafeBufferPointer<UInt8>, _ sizes: Sizes, _ count: (Range<Int>) -> Int) -> [Unit] {
        var units: [Unit] = []
        for range in SentenceSplitter.splitUTF8(b) {
            var tokens = count(range)
            if tokens > sizes.target, let (firstEnd, secondStart) = middleSpace(b, range) {
                // A counter that truncates (an encoder's tokenizer stops at its maximum length)
                // under-counts a long sentence; counting its halves exposes that. For a counter that
                // adds up over words (WordPiece) the halves give the same count.
                let halves = count(range.lowerBound..<firstEnd) + count(secondStart..<range.upperBound) - sizes.base
                tokens = max(tokens, halves)
            }
            if tokens <= sizes.limit {
                units.append(Unit(range: range, tokens: tokens))
            } else {
                splitAtWords(b, range, sizes, count, into: &units)
            }
        }
        return units
    }

    /// The whitespace run nearest the middle of `range`, as the end of the first half and the start
    /// of the second; nil for a single word.
    static func middleSpace(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> (Int, Int)? {
        let middle = range.lowerBound + range.count / 2
        var space = middle
        while space < range.upperBound && !UTF8Bytes.isASCIIWhitespace(b[space]) { space += 1 }
        if space == range.upperBound {
            space = middle
            while space > range.lowerBound && !UTF8Bytes.isASCIIWhitespace(b[space]) { space -= 1 }
            guard space > range.lowerBound else { return nil }
        }
        var firstEnd = space, secondStart = space
        while firstEnd > range.lowerBound && UTF8Bytes.isASCIIWhitespace(b[firstEnd - 1]) { firstEnd -= 1 }
        while secondStart < range.upperBound && UTF8Bytes.isASCIIWhitespace(b[secondStart]) { secondStart += 1 }
        guard firstEnd > range.lowerBound, secondStart < range.upperBound else { return nil }
        return (firstEnd, secondStart)
    }

    /// Chunk byte ranges (into the segment's text) from consecutive units.
    static func pack(_ units: [Unit], _ sizes: Sizes, overlap: Int, _ count: (Range<Int>) -> Int) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = 0  // first unit not yet in any chunk
        var previousFirst = 0
        while start < units.count {
            var first = start
            if !result.isEmpty && overlap > 0 {
                var overlapCost = 0
                while start - first < overlap && first - 1 >= previousFirst {
                    let c = cost(units[first - 1], sizes)
                    if overlapCost + c > sizes.target / 2 { break }
                    overlapCost += c
                    first -= 1
                }
            }
            var total = sizes.base
            for k in first...start { total += cost(units[k], sizes) }
            var end = start + 1
            while end < units.count && total + cost(units[end], sizes) <= sizes.target {
                total += cost(units[end], sizes)
                end += 1
            }
            while total > sizes.limit && first < start {
                total -= cost(units[first], sizes)
                first += 1
            }
            // The estimate adds counts; check the real count of the joined text, dropping overlap first.
            if end - first > 1 {
                var counted = count(units[first].range.lowerBound..<units[end - 1].range.upperBound)
                while counted > sizes.limit && end - first > 1 {
                    if first < start { first += 1 } else { end -= 1 }
                    counted = end - first > 1
                        ? count(units[first].range.lowerBound..<units[end - 1].range.upperBound) : units[first].tokens
                }
            }
            result.append(units[first].range.lowerBound..<units[end - 1].range.upperBound)
            previousFirst = first
            start = end
        }
        return result
    }

    /// Cuts an over-long sentence into pieces of at most `target` tokens at word (ASCII whitespace)
    /// boundaries. A word over `target` on its own becomes a piece by itself if it fits `limit`, and is
    /// cut at scalar boundaries otherwise.
    static func splitAtWords(_ b: UnsafeBufferPointer<UInt8>, _ sentence: Range<Int>, _ sizes: Sizes,
                             _ count: (Range<Int>) -> Int, into units: inout [Unit]) {
        var words = WordWindow(b: b, scan: sentence.lowerBound, end: sentence.upperBound)
        var wordsPerToken = 1.0
        while words.fill(1) > 0 {
            let first = words[0].lowerBound
            var good = 0, goodTokens = 0, bad = 0  // word counts known to fit / not to fit; 0: unknown
            func probe(_ k: Int) {
                let tokens = count(first..<words[k - 1].upperBound)
                if tokens <= sizes.target { good = k; goodTokens = tokens } else { bad = k }
            }
            let guess = max(1, Int(min(Double(sizes.target) * wordsPerToken, 1e7)))
            probe(words.fill(guess))
            var step = 1
            if good > 0 {
                while bad == 0 {
                    let available = words.fill(good + step)
                    if available <= good { break }  // the rest of the sentence fits
                    probe(available)
                    step *= 2
                }
            } else {
                while good == 0 && bad > 1 {
                    probe(max(1, bad - step))
                    step *= 2
                }
            }
            if good > 0 && bad > 0 {
                while bad - good > 1 { probe(good + (bad - good) / 2) }
            }
            if good > 0 {
                units.append(Unit(range: first..<words[good - 1].upperBound, tokens: goodTokens))
                wordsPerToken = Double(good) / Double(max(1, goodTokens - sizes.base))
                words.consume(good)
            } else {
                let word = words[0]
                let tokens = count(word)
                if tokens <= sizes.limit {
                    units.append(Unit(range: word, tokens: tokens))
                } else {
                    splitInsideWord(b, word, tokens: tokens, sizes, count, into: &units)
                }
                words.consume(1)
            }
        }
    }

    /// Cuts an enormous word at Unicode scalar boundaries into pieces of at most `target` tokens
    /// (one scalar per piece at least, so it always ends).
    static func splitInsideWord(_ b: UnsafeBufferPointer<UInt8>, _ word: Range<Int>, tokens: Int, _ sizes: Sizes,
                                _ count: (Range<Int>) -> Int, into units: inout [Unit]) {
        var start = word.lowerBound
        var bytesPerToken = Double(word.count) / Double(max(1, tokens - sizes.base))
        while start < word.upperBound {
            let s = start
            func snap(_ p: Int) -> Int {
                var q = p
                while q > s + 1 && q < word.upperBound && UTF8Bytes.isContinuation(b[q]) { q -= 1 }
                return q
            }
            let shortest = min(word.upperBound, s + UTF8Bytes.scalarLength(b[s]))
            let guess = s + Int(min(Double(sizes.target) * bytesPerToken, Double(word.count)))
            let end = largestFitting(lo: shortest, hi: word.upperBound, guess: guess,
                                     firstStep: max(1, (guess - s) / 16)) { count(s..<snap($0)) <= sizes.target }
            let cut = snap(end ?? shortest)
            let pieceTokens = count(s..<cut)
            units.append(Unit(range: s..<cut, tokens: pieceTokens))
            bytesPerToken = Double(cut - s) / Double(max(1, pieceTokens - sizes.base))
            start = cut
        }
    }

    /// The largest value in `lo...hi` for which `fits` holds (`fits` must hold up to some point and
    /// not after), searched by galloping out from `guess`, then bisecting; nil if `fits(lo)` fails.
    static func largestFitting(lo: Int, hi: Int, guess: Int, firstStep: Int, _ fits: (Int) -> Bool) -> Int? {
        guard lo <= hi else { return nil }
        var good = lo - 1, bad = hi + 1
        let g = min(max(guess, lo), hi)
        var step = firstStep
        if fits(g) {
            good = g
            while good < hi {
                let p = min(hi, good + step)
                if fits(p) { good = p; step *= 2 } else { bad = p; break }
            }
        } else {
            bad = g
            while bad > lo {
                let p = max(lo, bad - step)
                if fits(p) { good = p; break } else { bad = p; step *= 2 }
            }
        }
        while bad - good > 1 {
            let m = good + (bad - good) / 2
            if fits(m) { good = m } else { bad = m }
        }
        return good >= lo ? good : nil
    }
}

/// The words of one sentence, found lazily from the front, so that cutting a 50 MB sentence keeps
/// only the words near the cut in memory.
struct WordWindow {
    let b: UnsafeBufferPointer<UInt8>
    var scan: Int
    let end: Int
    private var words: [Range<Int>] = []
    private var head = 0

    init(b: UnsafeBufferPointer<UInt8>, scan: Int, end: Int) {
        self.b = b
        self.scan = scan
        self.end = end
    }

    /// Makes up to `count` words available from the front; returns how many are.
    mutating func fill(_ count: Int) -> Int {
        while words.count - head < count {
            while scan < end && UTF8Bytes.isASCIIWhitespace(b[scan]) { scan += 1 }
            guard scan < end else { break }
            let start = scan
            while scan < end && !UTF8Bytes.isASCIIWhitespace(b[scan]) { scan += 1 }
            words.append(start..<scan)
        }
        return min(count, words.count - head)
    }

    subscript(k: Int) -> Range<Int> { words[head + k] }

    /// Drops `count` words from the front.
    mutating func consume(_ count: Int) {
        head += count
        if head > 1024 && head * 2 > words.count {
            words.removeFirst(head)
            head = 0
        }
    }
}
