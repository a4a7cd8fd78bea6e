import Foundation

/// PDF text through poppler's `pdftotext` (a PDF parser is far outside this module's scope).
enum PDFText {
    /// How long pdftotext may run on one file before it is stopped and the file skipped.
    static let timeoutSeconds = 60.0

    static let notFound = "pdftotext not found (install poppler-utils: make setup)"

    /// One segment per non-empty page ("page" metadata, 1-based), each spanning the whole file.
    /// `executable` overrides the PATH search (tests use it to simulate a missing pdftotext).
    static func extract(path: String, fileSize: Int, executable: String? = nil) throws(SkipReason) -> ExtractedDocument {
        func skip(_ reason: String) -> SkipReason { SkipReason(path: path, reason: reason) }
        guard let tool = executable ?? findExecutable("pdftotext"),
              FileManager.default.isExecutableFile(atPath: tool) else { throw skip(notFound) }
        // An absolute path, so that a name starting with "-" is never taken for an option.
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let result: (status: Int32, out: Data, err: Data)
        do {
            result = try run(tool, ["-layout", "-enc", "UTF-8", absolute, "-"], timeout: timeoutSeconds)
        } catch let error as RunError {
            throw skip(error.message)
        } catch {
            throw skip("could not run pdftotext: \(error.localizedDescription)")
        }
        guard result.status == 0 else {
            let detail = String(decoding: result.err, as: UTF8.self)
                .split(whereSeparator: \.isNewline).first.map { ": " + $0.trimmingCharacters(in: .whitespaces) } ?? ""
            throw skip("pdftotext could not read it (exit \(result.status))\(detail)")
        }
        let text = String(decoding: result.out, as: UTF8.self)
        var segments: [ExtractedSegment] = []
        // pdftotext ends every page with a form feed.
        for (index, page) in text.split(separator: "\u{0C}", omittingEmptySubsequences: false).enumerated() {
            let trimmed = page.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            segments.append(ExtractedSegment(text: trimmed, byteRange: 0..<fileSize, metadata: ["page": String(index + 1)]))
        }
        guard !segments.isEmpty else { throw skip("no extractable text in the PDF (a scanned PDF needs OCR)") }
        return ExtractedDocument(source: path, format: .pdf, segments: segments)
    }

    /// The first executable called `name` on PATH (and the usual install places).
    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        var dirs = path.split(separator: ":").map(String.init)
        dirs += ["/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"]
        for dir in dirs where !dir.isEmpty {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    struct RunError: Error { let message: String }

    /// Thread-safe holder for what the reader threads collect.
    private final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var out = Data(), err = Data()
        func set(out data: Data) { lock.lock(); out = data; lock.unlock() }
        func set(err data: Data) { lock.lock(); err = data; lock.unlock() }
        var both: (Data, Data) { lock.lock(); defer { lock.unlock() }; return (out, err) }
    }

    /// Runs a tool, reading stdout and stderr on their own threads (so a large output cannot fill a
    /// pipe and stall the child), and stops it after `timeout` seconds.
    static func run(_ tool: String, _ arguments: [String], timeout: Double) throws -> (status: Int32, out: Data, err: Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        let collected = Collected()
        let readers = DispatchGroup()
        let outHandle = outPipe.fileHandleForReading, errHandle = errPipe.fileHandleForReading
        DispatchQueue.global().async(group: readers) { collected.set(out: outHandle.readDataToEndOfFile()) }
        DispatchQueue.global().async(group: readers) { collected.set(err: errHandle.readDataToEndOfFile()) }
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            if finished.wait(timeout: .now() + 5) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                _ = finished.wait(timeout: .now() + 5)
            }
            _ = readers.wait(timeout: .now() + 5)
            throw RunError(message: "pdftotext took longer than \(Int(timeout)) s")
        }
        _ = readers.wait(timeout: .now() + 10)
        let (out, err) = collected.both
        return (process.terminationStatus, out, err)
    }
}
