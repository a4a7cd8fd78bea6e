import Foundation
@testable import MnemoIngest

/// A fresh temporary directory, removed when the value goes away.
final class TempDir {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("mnemo-ingest-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        // chmod 000 files and directories in a test must be made removable again.
        if let all = FileManager.default.enumerator(atPath: path) {
            for case let name as String in all {
                try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path + "/" + name)
            }
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Writes `bytes` to `name` (creating parent directories) and returns the full path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let full = path + "/" + name
        let parent = (full as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: full))
        return full
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String { try write(name, Array(text.utf8)) }
}

/// Whitespace-separated words, the simplest additive counter.
func wordCount(_ s: String) -> Int {
    var count = 0
    var inWord = false
    for c in s.utf8 {
        let space = c == 0x20 || (c >= 0x09 && c <= 0x0D)
        if !space && !inWord { count += 1 }
        inWord = !space
    }
    return count
}

/// Like BERT's count: words and punctuation marks each count one, plus [CLS] and [SEP].
func bertLikeCount(_ s: String) -> Int {
    var count = 2
    var inWord = false
    for c in s.utf8 {
        let space = c == 0x20 || (c >= 0x09 && c <= 0x0D)
        let punct = (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E)
        if punct { count += 1; inWord = false; continue }
        if !space && !inWord { count += 1 }
        inWord = !space
    }
    return count
}

/// Four bytes a token, rounded up: not additive over words, and counts inside words.
func byteQuarterCount(_ s: String) -> Int { (s.utf8.count + 3) / 4 }

/// A minimal valid PDF with one page per string, Helvetica text, and a correct xref table.
func minimalPDF(pages: [String]) -> [UInt8] {
    var objects: [String] = []
    let pageCount = pages.count
    // 1: catalog, 2: pages, 3: font, then per page: page object and content stream.
    objects.append("<< /Type /Catalog /Pages 2 0 R >>")
    let kids = (0..<pageCount).map { "\(4 + 2 * $0) 0 R" }.joined(separator: " ")
    objects.append("<< /Type /Pages /Kids [\(kids)] /Count \(pageCount) >>")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for (k, text) in pages.enumerated() {
        let content = "BT /F1 18 Tf 72 700 Td (\(text)) Tj ET"
        objects.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents \(5 + 2 * k) 0 R /Resources << /Font << /F1 3 0 R >> >> >>")
        objects.append("<< /Length \(content.utf8.count) >>\nstream\n\(content)\nendstream")
    }
    var out = "%PDF-1.4\n"
    var offsets: [Int] = []
    for (k, object) in objects.enumerated() {
        offsets.append(out.utf8.count)
        out += "\(k + 1) 0 obj\n\(object)\nendobj\n"
    }
    let xref = out.utf8.count
    out += "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n"
    for offset in offsets { out += String(format: "%010d 00000 n \n", offset) }
    out += "trailer\n<< /Size \(objects.count + 1) /Root 1 0 R >>\nstartxref\n\(xref)\n%%EOF\n"
    return Array(out.utf8)
}

/// The file's bytes in `range`, as text.
func slice(_ path: String, _ range: Range<Int>) throws -> String {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return String(decoding: data[range], as: UTF8.self)
}

/// Runs `read` and returns the skip reason it throws (nil if it read the file).
func skipReason(_ path: String, maxBytes: Int = 64 << 20) -> SkipReason? {
    do {
        _ = try DocumentReader.read(path: path, maxBytes: maxBytes)
        return nil
    } catch let error as SkipReason {
        return error
    } catch {
        return SkipReason(path: path, reason: "unexpected error \(error)")
    }
}
