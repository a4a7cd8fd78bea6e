import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads lines from a terminal with editing and history (an Emacs-style subset of readline):
/// ← → Home End, Ctrl-A/E/B/F, Backspace, Delete, Ctrl-D (delete, or end of input on an empty line),
/// Ctrl-U/K/W (kill to start, to end, the word before), ↑ ↓ and Ctrl-P/N (history), Ctrl-L (clear),
/// Ctrl-C (abandon the line). Off a terminal (a pipe, a file) lines are read plainly.
///
/// The terminal is in raw mode only while a line is read, so output between lines and Ctrl-C during
/// other work behave as usual.
final class LineEditor {
    enum Input: Equatable {
        case line(String)
        /// Ctrl-C: the line was abandoned.
        case interrupted
        /// Ctrl-D on an empty line, or the end of a piped input.
        case end
    }

    let interactive = isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1
    private(set) var history: [String] = []
    private let historyFile: String?
    private let historyLimit = 1000

    /// `historyFile`: lines entered are kept there between runs (nil: not kept).
    init(historyFile: String?) {
        self.historyFile = historyFile
        if let historyFile, let text = try? String(contentsOfFile: historyFile, encoding: .utf8) {
            history = text.split(separator: "\n").map(String.init).suffix(historyLimit).map { $0 }
        }
    }

    func read(prompt: String) -> Input {
        guard interactive else {
            guard let line = Swift.readLine(strippingNewline: true) else { return .end }
            return .line(line)
        }
        var saved = termios()
        guard tcgetattr(STDIN_FILENO, &saved) == 0 else {
            guard let line = Swift.readLine(strippingNewline: true) else { return .end }
            return .line(line)
        }
        var raw = saved
        // No echo, no line buffering, no signals from keys (Ctrl-C arrives as a byte), no Ctrl-V/O.
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN)
        raw.c_iflag &= ~tcflag_t(IXON | ICRNL | INPCK | ISTRIP | BRKINT)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw)
        defer { tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved) }
        let result = edit(prompt: prompt)
        if case .line(let line) = result, !line.trimmingCharacters(in: .whitespaces).isEmpty, history.last != line {
            history.append(line)
            if let historyFile {
                // One line per entry: an entry with a line break is not kept.
                if !line.contains("\n"), let handle = FileHandle(forWritingAtPath: historyFile) ?? create(historyFile) {
                    handle.seekToEndOfFile()
                    handle.write(Data((line + "\n").utf8))
                    try? handle.close()
                }
            }
        }
        return result
    }

    private func create(_ path: String) -> FileHandle? {
        _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        return FileHandle(forWritingAtPath: path)
    }

    private func write(_ s: String) {
        var bytes = Array(s.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            offset += n
        }
    }

    /// The terminal's width (80 when it cannot be read).
    private func columns() -> Int {
        var size = winsize()
        return ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
    }

    private func readByte() -> UInt8? {
        var byte: UInt8 = 0
        while true {
            let n = Glibc.read(STDIN_FILENO, &byte, 1)
            if n == 1 { return byte }
            if n < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// The line being edited, as characters, with the cursor's index.
    private func edit(prompt: String) -> Input {
        var line: [Character] = []
        var cursor = 0
        var browsing = history.count  // index in history; == count: the line being typed
        var draft: [Character] = []

        // One terminal row: a line longer than the row scrolls sideways to keep the cursor in view.
        func redraw() {
            let room = max(8, columns() - prompt.count - 1)
            var start = 0
            if line.count > room { start = min(max(0, cursor - room + 1), line.count - room) }
            let shown = line[start..<min(line.count, start + room)]
            var s = "\r" + prompt + String(shown) + "\u{1B}[K"
            let back = start + shown.count - cursor
            if back > 0 { s += "\u{1B}[\(back)D" }
            write(s)
        }
        func recall(_ index: Int) {
            if browsing == history.count { draft = line }
            browsing = index
            line = index == history.count ? draft : Array(history[index])
            cursor = line.count
        }

        write(prompt)
        var pending: [UInt8] = []  // a UTF-8 sequence in progress
        while let byte = readByte() {
            switch byte {
            case 13, 10:  // Enter
                write("\r\n")
                return .line(String(line))
            case 3:  // Ctrl-C
                write("^C\r\n")
                return .interrupted
            case 4:  // Ctrl-D
                if line.isEmpty {
                    write("\r\n")
                    return .end
                }
                if cursor < line.count { line.remove(at: cursor) }
            case 127, 8:  // Backspace
                if cursor > 0 {
                    line.remove(at: cursor - 1)
                    cursor -= 1
                }
            case 1: cursor = 0  // Ctrl-A
            case 5: cursor = line.count  // Ctrl-E
            case 2: cursor = max(0, cursor - 1)  // Ctrl-B
            case 6: cursor = min(line.count, cursor + 1)  // Ctrl-F
            case 21:  // Ctrl-U
                line.removeSubrange(0..<cursor)
                cursor = 0
            case 11: line.removeSubrange(cursor...)  // Ctrl-K
            case 23:  // Ctrl-W
                var start = cursor
                while start > 0 && line[start - 1] == " " { start -= 1 }
                while start > 0 && line[start - 1] != " " { start -= 1 }
                line.removeSubrange(start..<cursor)
                cursor = start
            case 12: write("\u{1B}[H\u{1B}[2J")  // Ctrl-L
            case 16: if browsing > 0 { recall(browsing - 1) }  // Ctrl-P
            case 14: if browsing < history.count { recall(browsing + 1) }  // Ctrl-N
            case 27:  // an escape sequence: ESC [ X, ESC [ n ~, ESC O X
                guard let next = readByte() else { return .end }
                guard next == UInt8(ascii: "[") || next == UInt8(ascii: "O") else { break }
                var params = ""
                var final: UInt8 = 0
                while let b = readByte() {
                    if (0x30...0x3F).contains(b) { params.append(Character(UnicodeScalar(b))) } else { final = b; break }
                }
                switch (final, params) {
                case (UInt8(ascii: "A"), _): if browsing > 0 { recall(browsing - 1) }
                case (UInt8(ascii: "B"), _): if browsing < history.count { recall(browsing + 1) }
                case (UInt8(ascii: "C"), _): cursor = min(line.count, cursor + 1)
                case (UInt8(ascii: "D"), _): cursor = max(0, cursor - 1)
                case (UInt8(ascii: "H"), _), (UInt8(ascii: "~"), "1"), (UInt8(ascii: "~"), "7"): cursor = 0
                case (UInt8(ascii: "F"), _), (UInt8(ascii: "~"), "4"), (UInt8(ascii: "~"), "8"): cursor = line.count
                case (UInt8(ascii: "~"), "3"): if cursor < line.count { line.remove(at: cursor) }
                default: break
                }
            default:
                guard byte >= 32 else { break }  // other control keys: ignored
                pending.append(byte)
                guard let text = String(validating: pending, as: UTF8.self) else {
                    if pending.count >= 4 { pending = [] }  // not UTF-8: dropped
                    continue
                }
                pending = []
                for c in text {
                    line.insert(c, at: cursor)
                    cursor += 1
                }
            }
            redraw()
        }
        return .end
    }
}

/// Ctrl-C while work runs: SIGINT sets a flag the work polls, instead of ending the process.
final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false
    private var source: DispatchSourceSignal?
    /// Called on SIGINT when nothing is running (`reset` was not called since the last `finish`).
    private let whenIdle: () -> Void
    private var running = false

    init(whenIdle: @escaping () -> Void) {
        self.whenIdle = whenIdle
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [weak self] in self?.fire() }
        source.resume()
        self.source = source
    }

    private func fire() {
        lock.lock()
        let busy = running
        if busy { raised = true }
        lock.unlock()
        if !busy { whenIdle() }
    }

    /// Work begins: Ctrl-C now stops it.
    func start() {
        lock.lock()
        raised = false
        running = true
        lock.unlock()
    }

    func finish() {
        lock.lock()
        running = false
        lock.unlock()
    }

    var isRaised: Bool {
        lock.lock()
        defer { lock.unlock() }
        return raised
    }
}
