import Foundation
import Testing

/// Every `--flag` used by an example in any command's `--help` exists on the command it names:
/// examples are what users copy first, and an example with a renamed flag fails on the spot.
@Suite struct HelpExamplesTests {
    /// Long option names listed under OPTIONS (both halves of `--x/--no-x`).
    private func options(in help: String) -> Set<String> {
        guard let start = help.range(of: "OPTIONS:") else { return [] }
        return Set(flags(in: String(help[start.upperBound...])))
    }

    /// A long flag not glued to a preceding word (so `a--b` is not one).
    private static let flagPattern = try! NSRegularExpression(pattern: "(?<![\\w-])--[a-z][a-z0-9-]*")

    private func flags(in text: String) -> [String] {
        let ns = text as NSString
        return Self.flagPattern.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range) }
    }

    private func subcommands(in help: String) -> [String] {
        guard let start = help.range(of: "SUBCOMMANDS:") else { return [] }
        // "  name   abstract" lines (continuations are indented further) up to the first blank line.
        let section = help[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false)
            .dropFirst().prefix { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        return section.compactMap { line in
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first else { return nil }
            return name == "help" ? nil : String(name)
        }
    }

    @Test func everyExampleFlagExists() throws {
        // Every command path and its help text, found from the root's SUBCOMMANDS lists.
        var helps: [[String]: String] = [:]
        var queue: [[String]] = [[]]
        while let path = queue.popLast() {
            guard path.count <= 3, helps[path] == nil else { continue }
            let result = try mnemo(path + ["--help"])
            #expect(result.status == 0, "mnemo \(path.joined(separator: " ")) --help: \(result.stderr)")
            helps[path] = result.stdout
            queue += subcommands(in: result.stdout).map { path + [$0] }
        }
        #expect(helps.count > 20, "found only \(helps.count) commands")
        let known = helps.mapValues(options)

        var checked = 0
        for (path, help) in helps {
            // Examples live above USAGE; a trailing backslash continues one.
            let discussion = help.components(separatedBy: "USAGE:")[0]
                .replacingOccurrences(of: "\\\n", with: " ")
            for line in discussion.split(separator: "\n") {
                // One line may hold several commands (`mnemo index …; mnemo query …`).
                for segment in line.components(separatedBy: "mnemo ").dropFirst() {
                    let words = segment.split(separator: " ").map(String.init)
                    // The longest command path the segment starts with.
                    var command: [String] = []
                    while command.count < words.count, known[command + [words[command.count]]] != nil {
                        command.append(words[command.count])
                    }
                    guard !command.isEmpty, let allowed = known[command] else { continue }
                    // Quoted arguments may hold anything; only flags outside quotes count.
                    let unquoted = segment.replacingOccurrences(of: "\"[^\"]*\"", with: "", options: .regularExpression)
                    for flag in flags(in: unquoted) {
                        checked += 1
                        #expect(allowed.contains(flag),
                                "`mnemo \(path.joined(separator: " ")) --help` shows `mnemo \(command.joined(separator: " ")) … \(flag)`, which that command does not take")
                    }
                }
            }
        }
        #expect(checked > 50, "only \(checked) example flags found: is the example format still recognised?")
    }
}
