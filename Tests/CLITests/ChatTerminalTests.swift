import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// A tmux server of its own (its own socket), driving `mnemo chat` in a real terminal.
final class TmuxTerminal {
    let socket = "mnemo-test-\(UUID().uuidString.prefix(8))"
    let target = "chat"

    /// Runs a tmux client command, output to a file. Spawned directly, not with Foundation's `Process`:
    /// the server the first command starts would inherit the descriptor `Process` watches for the
    /// client's exit, and the wait would never end.
    @discardableResult
    func tmux(_ arguments: [String]) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(socket)-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // bash closes every other descriptor first: other tests' pipes must not stay open in the tmux server.
        let closeOthers = "for fd in /proc/$$/fd/*; do n=${fd##*/}; [ \"$n\" -gt 2 ] && eval \"exec $n>&-\"; done 2>/dev/null; exec \"$@\""
        let argv = ["bash", "-c", closeOthers, "bash", "tmux", "-L", socket] + arguments
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, "bash", &actions, nil, &cArgs, environ)
        guard rc == 0 else { throw TerminalError("cannot start bash for tmux: \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0, code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw TerminalError("tmux \(arguments.joined(separator: " ")) failed (\(code)): \(text)" + (code == 127 ? " (is tmux installed? `make setup` installs it)" : ""))
        }
        return text
    }

    struct TerminalError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// Starts `command` in a 160×50 terminal; the pane stays after the program exits, to be read.
    func start(_ command: [String]) throws {
        let line = command.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        try tmux(["new-session", "-d", "-s", target, "-x", "160", "-y", "50", line])
        try tmux(["set-option", "-t", target, "remain-on-exit", "on"])
    }

    func send(_ keys: String...) throws { try tmux(["send-keys", "-t", target] + keys) }
    /// Literal text, then Enter.
    func type(_ text: String) throws {
        try tmux(["send-keys", "-t", target, "-l", text])
        try send("Enter")
    }

    /// The whole pane, scroll-back included, wrapped lines joined.
    func screen() throws -> String { try tmux(["capture-pane", "-p", "-J", "-S", "-", "-t", target]) }
    var lines: [String] { ((try? screen()) ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
    var prompts: Int { lines.filter { $0.hasPrefix("you> ") || $0 == "you>" }.count }
    var paneDead: Bool { ((try? tmux(["list-panes", "-t", target, "-F", "#{pane_dead}"])) ?? "").hasPrefix("1") }

    /// Waits until `condition` holds (the model is slow on a loaded machine: generous, never a timing test).
    func wait(_ what: String, timeout: TimeInterval = 300, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            guard Date() < deadline else { throw TerminalError("timed out waiting for \(what); the screen:\n\((try? screen()) ?? "")") }
            Thread.sleep(forTimeInterval: 0.25)
        }
    }

    /// Waits for the `n`-th prompt to be shown, empty and ready for input.
    func waitForPrompt(_ n: Int) throws {
        try wait("prompt \(n)") { prompts >= n && (lines.last(where: { !$0.isEmpty }) ?? "").hasPrefix("you>") }
    }

    func kill() { _ = try? tmux(["kill-server"]) }
}

/// `mnemo chat` in a real terminal (tmux): streamed answers, documents and their sources, commands, line
/// editing and history, Ctrl-C stopping an answer (not the session), Ctrl-D leaving, and a resumed session.
/// The real SmolLM2 and encoder; what the model says is not judged, only what the chat does.
@Suite(.serialized, .tags(.realModel), .needsModels) struct ChatTerminalTests {
    @Test func multiTurnSessionInterruptAndResume() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("store").path
        let indexed = try mnemo(["index", repositoryRoot.appendingPathComponent("Examples/corpus/lighthouses-history.txt").path,
                                 "--store", store, "--threads", "2"])
        try #require(indexed.status == 0, "\(indexed.stderr)")
        let chat = [mnemoBinary.path, "chat", "--session", "tmux-test", "--store", store, "--model", "smollm2",
                    "--max-tokens", "300", "--threads", "2", "--no-tools"]

        let term = TmuxTerminal()
        defer { term.kill() }
        try term.start(chat)
        try term.waitForPrompt(1)
        #expect(try term.screen().contains("Session \"tmux-test\": 0 earlier turn(s)"))

        // Turn 1 and 2: answers stream back, the second draws on the indexed document.
        try term.type("My locker code is 4127.")
        try term.waitForPrompt(2)
        try term.type("Who built the first lighthouse at Alexandria?")
        try term.waitForPrompt(3)
        #expect(try term.screen().contains("(notes: [1] lighthouses-history.txt"))

        // Line editing: a typo fixed with Home and → before Enter; then ↑ recalls the line.
        try term.send("-l", "/hstory")
        try term.send("Home", "Right", "Right")
        try term.send("-l", "i")
        try term.send("Enter")
        try term.waitForPrompt(4)
        var screen = try term.screen()
        #expect(screen.contains("1  you: My locker code is 4127."), "\(screen)")
        #expect(screen.contains("2  you: Who built the first lighthouse at Alexandria?"))
        try term.type("/sources")
        try term.waitForPrompt(5)
        screen = try term.screen()
        #expect(screen.contains("Documents:") && screen.contains("lighthouses-history.txt (chunk"), "\(screen)")
        try term.send("Up", "Enter")  // /sources again, from the input history
        try term.waitForPrompt(6)
        #expect(try term.screen().components(separatedBy: "Documents:").count == 3)
        try term.type("/tokens")
        try term.waitForPrompt(7)
        #expect(try term.screen().contains("Session \"tmux-test\": 2 turns; all of them raw would take"))

        // Ctrl-C during an answer stops that answer, not the session; the partial answer is kept as turn 3.
        try term.type("Write a very long story about a dragon who guards a lighthouse, with many chapters.")
        try term.wait("the answer to begin") {
            let last = term.lines.last(where: { !$0.isEmpty }) ?? ""
            return term.prompts == 7 && !last.hasPrefix("you>") && last.count > 20
        }
        try term.send("C-c")
        try term.waitForPrompt(8)
        #expect(try term.screen().contains("[stopped]"))
        #expect(!term.paneDead)
        try term.type("/history 1")
        try term.waitForPrompt(9)
        #expect(try term.screen().contains("3  you: Write a very long story"))

        // Ctrl-C on a half-typed line drops it; Ctrl-D on an empty line leaves.
        try term.send("-l", "never sent")
        try term.send("C-c")
        try term.waitForPrompt(10)
        try term.send("C-d")
        try term.wait("the chat to exit") { term.paneDead }
        term.kill()

        // Resume: the same session comes back with its three turns; /forget removes one for good.
        let again = TmuxTerminal()
        defer { again.kill() }
        try again.start(chat)
        try again.waitForPrompt(1)
        #expect(try again.screen().contains("Session \"tmux-test\": 3 earlier turn(s)"))
        try again.type("/forget 1")
        try again.waitForPrompt(2)
        #expect(try again.screen().contains("Forgot turn 1."))
        try again.type("/history")
        try again.waitForPrompt(3)
        screen = try again.screen()
        #expect(!screen.contains("1  you: My locker code is 4127."), "\(screen)")
        #expect(screen.contains("2  you: Who built the first lighthouse"))
        try again.type("/exit")
        try again.wait("the chat to exit") { again.paneDead }

        let listed = try mnemo(["chat", "--list", "--json", "--store", store])
        #expect(listed.status == 0, "\(listed.stderr)")
        let sessions = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]
        #expect(sessions?.first?["name"] as? String == "tmux-test")
        #expect(sessions?.first?["turns"] as? Int == 2)
    }
}
