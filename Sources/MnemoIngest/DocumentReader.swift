import Foundation

/// Turns files into extracted text. Every problem with one file becomes a `SkipReason`, so that an
/// ingest of many files goes on past a bad one.
public enum DocumentReader {
    /// Reads and extracts one file. Throws only `SkipReason`: for an unsupported extension, a missing,
    /// unreadable or non-regular file, a file over `maxBytes`, an empty or whitespace-only file,
    /// binary content (a NUL byte anywhere, or a high share of control bytes in the first 8 KiB),
    /// UTF-16 text, invalid UTF-8 (with the byte offset), a PDF that pdftotext cannot read, and a
    /// .jsonl file with no usable record. Record-level .jsonl problems (a line that is not a JSON
    /// object, a missing or non-string `textField`, an empty text) skip only that record and come
    /// back in `warnings` ("line N: why", at most about 100).
    public static func read(path: String, textField: String = "text", maxBytes: Int = 64 << 20) throws -> (document: ExtractedDocument, warnings: [String]) {
        try readFile(path: path, textField: textField, maxBytes: maxBytes)
    }

    static func readFile(path: String, textField: String, maxBytes: Int, pdftotext: String? = nil) throws(SkipReason) -> (document: ExtractedDocument, warnings: [String]) {
        func skip(_ reason: String) -> SkipReason { SkipReason(path: path, reason: reason) }
        let maxBytes = min(max(0, maxBytes), Int.max - 1)  // one byte past it is read to catch growth
        guard let format = DocumentFormat(path: path) else { throw skip(unsupportedReason(path)) }
        let size = try checkedSize(path: path, maxBytes: maxBytes)
        guard size > 0 else { throw skip("empty file") }

        if format == .pdf {
            let head = try load(path: path, upTo: 1024)
            guard containsPDFMagic(head) else {
                throw skip("not a PDF (no %PDF- header)")
            }
            return (try PDFText.extract(path: path, fileSize: size, executable: pdftotext), [])
        }

        let bytes = try load(path: path, upTo: maxBytes + 1)
        guard bytes.count <= maxBytes else { throw skip(tooLargeReason(bytes.count, maxBytes)) }
        guard !bytes.isEmpty else { throw skip("empty file") }
        return try bytes.withUnsafeBufferPointer { (b) throws(SkipReason) -> (document: ExtractedDocument, warnings: [String]) in
            // JSON Lines are checked line by line (JSONLines.records): one bad line costs that record only.
            let start = try checkText(b, path: path, wholeFileUTF8: format != .jsonl)
            // Prose has lines; a megabyte without a line break is generated or minified data, and
            // indexing it would embed hundreds of thousands of meaningless chunks.
            if format != .html && format != .pdf, let longest = longestLine(b, over: maxLineBytes) {
                throw skip("a single line of \(longest) bytes exceeds the \(maxLineBytes >> 20) MiB line limit (generated or minified data?)")
            }
            switch format {
            case .text, .markdown:
                guard hasVisibleText(b, from: start) else { throw skip("only whitespace") }
                let segment = ExtractedSegment(text: UTF8Bytes.string(b, start..<b.count), byteRange: start..<b.count, textOffset: start)
                return (ExtractedDocument(source: path, format: format, segments: [segment]), [])
            case .html:
                let body = UnsafeBufferPointer(rebasing: b[start...])
                let (text, title) = HTMLText.extract(body)
                guard !text.isEmpty else { throw skip("no visible text in the HTML") }
                let metadata = title.map { ["title": $0] } ?? [:]
                let segment = ExtractedSegment(text: text, byteRange: 0..<b.count, metadata: metadata)
                return (ExtractedDocument(source: path, format: .html, segments: [segment]), [])
            case .jsonl:
                guard hasVisibleText(b, from: start) else { throw skip("only whitespace") }
                let result = JSONLines.records(b, from: start, textField: textField)
                guard !result.segments.isEmpty else {
                    let first = result.warnings.first.map { "; first problem: \($0)" } ?? ""
                    throw skip("no usable record with a string \"\(textField)\" field in \(result.lines) lines\(first)")
                }
                return (ExtractedDocument(source: path, format: .jsonl, segments: result.segments), result.warnings)
            case .pdf:
                throw skip("unreachable")  // handled above
            }
        }
    }

    /// Lists the files to ingest under `paths`, in order. Directories are walked recursively in name
    /// order (a directory's entries sorted by their UTF-8 bytes, each subdirectory's files at its
    /// name's place), hidden files and directories skipped, symbolic links followed but each
    /// directory entered once (so link loops end) and each file listed once. Files with an
    /// unsupported extension inside a directory are passed over silently; a path given explicitly
    /// with one, a missing path, a broken link or an unreadable directory is reported in `skipped`.
    public static func collect(paths: [String]) -> (files: [String], skipped: [SkipReason]) {
        var walker = Walker()
        for path in paths {
            walker.add(path)
        }
        return (walker.files, walker.skipped)
    }

    // MARK: - Checks

    static func unsupportedReason(_ path: String) -> String {
        let ext = DocumentFormat.fileExtension(of: path).map { "\".\($0)\"" } ?? "no extension"
        return "unsupported file type (\(ext); supported: \(DocumentFormat.supportedExtensions))"
    }

    /// Lines longer than this make a text, Markdown or JSONL file unindexable.
    public static let maxLineBytes = 1 << 20

    /// The length of the first line longer than `limit`, if any.
    static func longestLine(_ b: UnsafeBufferPointer<UInt8>, over limit: Int) -> Int? {
        var lineStart = 0
        for i in 0...b.count where i == b.count || b[i] == 0x0A {
            if i - lineStart > limit { return i - lineStart }
            lineStart = i + 1
        }
        return nil
    }

    static func tooLargeReason(_ size: Int, _ maxBytes: Int) -> String {
        "file too large (\(size) bytes; the limit is \(maxBytes) bytes)"
    }

    /// The size of a regular file (following links), refusing directories, devices and pipes,
    /// which would block or never end, and files over the limit.
    static func checkedSize(path: String, maxBytes: Int) throws(SkipReason) -> Int {
        func skip(_ reason: String) -> SkipReason { SkipReason(path: path, reason: reason) }
        let attributes: [FileAttributeKey: Any]
        switch resolve(path) {
        case .missing: throw skip("no such file")
        case .brokenLink: throw skip("broken symbolic link")
        case .found(let found): attributes = found
        }
        let type = attributes[.type] as? FileAttributeType
        if type == .typeDirectory { throw skip("is a directory") }
        guard type == .typeRegular else { throw skip("not a regular file") }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        guard size <= maxBytes else { throw skip(tooLargeReason(size, maxBytes)) }
        return size
    }

    enum Resolved {
        case missing
        case brokenLink
        case found([FileAttributeKey: Any])
    }

    /// The attributes of what `path` leads to, following symbolic links.
    static func resolve(_ path: String) -> Resolved {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        if let attributes = try? FileManager.default.attributesOfItem(atPath: resolved),
           attributes[.type] as? FileAttributeType != .typeSymbolicLink {
            return .found(attributes)
        }
        // Still a link after resolving (dangling, or a loop), or gone: tell the two apart.
        return (try? FileManager.default.attributesOfItem(atPath: path)) != nil ? .brokenLink : .missing
    }

    /// Up to `limit` bytes of the file.
    static func load(path: String, upTo limit: Int) throws(SkipReason) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw SkipReason(path: path, reason: "unreadable (permission denied)")
        }
        defer { try? handle.close() }
        do {
            let data = try handle.read(upToCount: limit) ?? Data()
            return [UInt8](data)
        } catch {
            throw SkipReason(path: path, reason: "unreadable: \(error.localizedDescription)")
        }
    }

    static func containsPDFMagic(_ head: [UInt8]) -> Bool {
        let magic = Array("%PDF-".utf8)
        guard head.count >= magic.count else { return false }
        for start in 0...(head.count - magic.count) where head[start..<(start + magic.count)].elementsEqual(magic) {
            return true
        }
        return false
    }

    /// Checks that the bytes are UTF-8 text and returns where the text starts (after a BOM).
    /// `wholeFileUTF8` false leaves the UTF-8 check to the caller (per record).
    static func checkText(_ b: UnsafeBufferPointer<UInt8>, path: String, wholeFileUTF8: Bool = true) throws(SkipReason) -> Int {
        func skip(_ reason: String) -> SkipReason { SkipReason(path: path, reason: reason) }
        if b.count >= 2 && ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF)) {
            throw skip("UTF-16 text is not supported (convert it to UTF-8)")
        }
        let sample = min(b.count, 8192)
        var controls = 0
        for k in 0..<sample {
            let c = b[k]
            if c == 0 { throw skip("binary content (NUL byte at offset \(k))") }
            // Tab, line feed, vertical tab, form feed, carriage return and escape (colour codes in logs) are text.
            if (c < 0x20 && !(c >= 0x09 && c <= 0x0D) && c != 0x1B) || c == 0x7F { controls += 1 }
        }
        if controls * 10 > sample {
            throw skip("binary content (\(controls * 100 / max(sample, 1))% control bytes in the first \(sample) bytes)")
        }
        let start = b.count >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF ? 3 : 0
        guard wholeFileUTF8 else { return start }
        switch UTF8Bytes.firstProblem(b, from: start) {
        case .nul(let offset): throw skip("binary content (NUL byte at offset \(offset))")
        case .invalid(let offset): throw skip("invalid UTF-8 at byte offset \(offset)")
        case nil: return start
        }
    }

    static func hasVisibleText(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> Bool {
        var k = start
        while k < b.count {
            let w = UTF8Bytes.whitespaceLength(b, k)
            if w == 0 { return true }
            k += w
        }
        return false
    }
}

/// The directory walk behind `DocumentReader.collect`.
struct Walker {
    var files: [String] = []
    var skipped: [SkipReason] = []
    private var seenDirectories: Set<FileIdentity> = []
    private var seenFiles: Set<FileIdentity> = []
    private var seenPaths: Set<String> = []

    struct FileIdentity: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    /// Device and inode of what `path` leads to (following links); nil if it cannot be reached.
    static func identity(_ path: String) -> (FileIdentity, isDirectory: Bool)? {
        guard case .found(let attributes) = DocumentReader.resolve(path) else { return nil }
        let device = (attributes[.systemNumber] as? NSNumber)?.uint64Value ?? 0
        let inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
        let isDirectory = (attributes[.type] as? FileAttributeType) == .typeDirectory
        // Without an inode number, fall back on the resolved path as the identity.
        if inode == 0 {
            let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            return (FileIdentity(device: UInt64(bitPattern: Int64(resolved.hashValue)), inode: 0), isDirectory)
        }
        return (FileIdentity(device: device, inode: inode), isDirectory)
    }

    mutating func add(_ path: String) {
        guard !path.isEmpty else {
            skipped.append(SkipReason(path: path, reason: "no such file or directory"))
            return
        }
        guard let (id, isDirectory) = Walker.identity(path) else {
            let isLink = (try? FileManager.default.attributesOfItem(atPath: path)) != nil
            skipped.append(SkipReason(path: path, reason: isLink ? "broken symbolic link" : "no such file or directory"))
            return
        }
        if isDirectory {
            walk(path, id)
        } else if DocumentFormat(path: path) != nil {
            addFile(path, id)
        } else {
            skipped.append(SkipReason(path: path, reason: DocumentReader.unsupportedReason(path)))
        }
    }

    private mutating func addFile(_ path: String, _ id: FileIdentity) {
        guard !seenFiles.contains(id), !seenPaths.contains(path) else { return }
        seenFiles.insert(id)
        seenPaths.insert(path)
        files.append(path)
    }

    private mutating func walk(_ directory: String, _ id: FileIdentity) {
        guard seenDirectories.insert(id).inserted else { return }  // a link loop, or a directory given twice
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            skipped.append(SkipReason(path: directory, reason: "unreadable directory"))
            return
        }
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        let sorted = names.filter { !$0.hasPrefix(".") }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for name in sorted {
            let path = prefix + name
            guard let (childID, isDirectory) = Walker.identity(path) else {
                if DocumentFormat(path: path) != nil {
                    skipped.append(SkipReason(path: path, reason: "broken symbolic link"))
                }
                continue
            }
            if isDirectory {
                walk(path, childID)
            } else if DocumentFormat(path: path) != nil {
                addFile(path, childID)
            }
        }
    }
}
