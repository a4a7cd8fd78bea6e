import Foundation

/// One piece of extracted text, with where it came from in the original file.
public struct ExtractedSegment: Sendable, Equatable {
    /// The extracted text (for .jsonl the decoded value of the text field).
    public var text: String
    /// UTF-8 byte range in the original file that this segment came from. Text and markdown: exactly
    /// the text; .jsonl: the record's line (without its line break); html and pdf: the whole file,
    /// because their text is rebuilt from markup and has no contiguous source range.
    public var byteRange: Range<Int>
    /// Per-segment metadata: a .jsonl record's other fields, an html `<title>`, a pdf `page`.
    public var metadata: [String: String]
    /// Where `text` starts in the file when it is a byte-for-byte copy of the file from there (text,
    /// markdown, and .jsonl values written without escapes); nil when extraction rewrote it (html,
    /// pdf, escaped JSON strings). The chunker uses it to give each chunk its exact byte range.
    public var textOffset: Int?

    public init(text: String, byteRange: Range<Int>, metadata: [String: String] = [:], textOffset: Int? = nil) {
        self.text = text
        self.byteRange = byteRange
        self.metadata = metadata
        self.textOffset = textOffset
    }
}

/// A whole extracted document: one segment for text, markdown and html; one per record for
/// .jsonl; one per non-empty page for pdf (with a `page` metadata entry, 1-based).
public struct ExtractedDocument: Sendable {
    public var source: String
    public var format: DocumentFormat
    public var segments: [ExtractedSegment]

    public init(source: String, format: DocumentFormat, segments: [ExtractedSegment]) {
        self.source = source
        self.format = format
        self.segments = segments
    }
}

/// The file formats the reader understands, chosen by file extension (case-insensitive).
public enum DocumentFormat: String, Sendable, CaseIterable {
    case text, markdown, html, jsonl, pdf

    /// The format for a path's extension: .txt .text → text, .md .markdown → markdown,
    /// .html .htm → html, .jsonl → jsonl, .pdf → pdf; nil for anything else.
    public init?(path: String) {
        guard let ext = DocumentFormat.fileExtension(of: path) else { return nil }
        switch ext {
        case "txt", "text": self = .text
        case "md", "markdown": self = .markdown
        case "html", "htm": self = .html
        case "jsonl": self = .jsonl
        case "pdf": self = .pdf
        default: return nil
        }
    }

    /// The extensions accepted, for messages.
    public static let supportedExtensions = ".txt .text .md .markdown .html .htm .jsonl .pdf"

    /// Lower-cased extension of the last path component; a leading dot alone (".txt") is a hidden
    /// file's name, not an extension.
    static func fileExtension(of path: String) -> String? {
        let name = path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        let ext = name[name.index(after: dot)...]
        return ext.isEmpty ? nil : ext.lowercased()
    }
}

/// Why a file was skipped. Reading or collecting one file never stops the rest of an ingest.
public struct SkipReason: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// One chunk of a document, ready to embed.
public struct Chunk: Sendable, Equatable {
    public var text: String
    /// Exact UTF-8 byte range of `text` in the file when the segment's text is verbatim
    /// (`ExtractedSegment.textOffset` set); otherwise the segment's `byteRange`.
    public var byteRange: Range<Int>
    /// The segment's metadata.
    public var metadata: [String: String]
    /// Position of the chunk in its document, from 0.
    public var ordinal: Int

    public init(text: String, byteRange: Range<Int>, metadata: [String: String], ordinal: Int) {
        self.text = text
        self.byteRange = byteRange
        self.metadata = metadata
        self.ordinal = ordinal
    }
}

/// Chunk sizes in tokens of the caller's counter.
public struct ChunkingOptions: Sendable {
    /// Sentences are packed until the next one would take a chunk past this.
    public var targetTokens: Int = 128
    /// How many trailing sentences of a chunk start the next one (capped at half of
    /// `targetTokens`, so that overlap never crowds out new text).
    public var overlapSentences: Int = 1
    /// No chunk is longer than this; longer sentences are split at word boundaries.
    public var maxTokens: Int = 256

    public init(targetTokens: Int = 128, overlapSentences: Int = 1, maxTokens: Int = 256) {
        self.targetTokens = targetTokens
        self.overlapSentences = overlapSentences
        self.maxTokens = maxTokens
    }
}
