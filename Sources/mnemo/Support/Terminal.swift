import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Output helpers for the command-line edge.
enum Terminal {
    static var stderrIsTTY: Bool { isatty(STDERR_FILENO) == 1 }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// Writes a value as JSON on stdout (keys sorted, so output is stable for scripts and tests).
    /// `snakeCase`: Swift property names written snake_case, as every other `--json` output spells its
    /// keys (only for outputs without user-named keys such as metadata, which must pass unchanged).
    static func printJSON<T: Encodable>(_ value: T, snakeCase: Bool = false) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if snakeCase { encoder.keyEncodingStrategy = .convertToSnakeCase }
        var data = try encoder.encode(value)
        data.append(0x0A)
        FileHandle.standardOutput.write(data)
    }
}

/// A one-line progress bar on a terminal's stderr; plain periodic lines when stderr is a pipe.
final class ProgressBar {
    let total: Int
    let label: String
    let start = Date()
    let tty = Terminal.stderrIsTTY
    var lastDraw = Date.distantPast
    /// Extra figures shown after the count (e.g. chunks/s).
    var extra = ""

    /// Work already done before this run (a resumed job): left out of the rate, so the ETA stays honest.
    let initial: Int

    init(total: Int, label: String, initial: Int = 0) {
        self.total = total
        self.label = label
        self.initial = initial
    }

    var lastDone = -1

    func update(_ done: Int, force: Bool = false) {
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= (tty ? 0.1 : 5), done != lastDone || tty else { return }
        lastDraw = now
        lastDone = done
        let elapsed = max(now.timeIntervalSince(start), 1e-6)
        let rate = Double(max(done - initial, 0)) / elapsed
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let stats = String(format: "%d/%d %@  %.1f/s  ETA %.0fs", done, total, label, rate, eta) + (extra.isEmpty ? "" : "  " + extra)
        if tty {
            let width = 30, filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            FileHandle.standardError.write(Data("\r\(bar) \(stats)\u{1B}[K".utf8))
        } else {
            Terminal.printError(stats)
        }
    }

    func finish() {
        update(total, force: true)
        if tty { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
