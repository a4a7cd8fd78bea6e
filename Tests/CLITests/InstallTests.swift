import Foundation
import Testing

/// `make install`'s copy step into a fresh PREFIX: the binary on PREFIX/bin runs, and the completion
/// scripts ArgumentParser writes for it are valid shell that knows the subcommands. (`make install`
/// itself builds the release binary first; this runs the same recipe on the binary under test.)
@Suite struct InstallTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func installPutsTheBinaryAndCompletionsUnderPrefix() throws {
        let prefix = try temporaryDirectory().appendingPathComponent("prefix with space")
        let make = try runToEnd("/usr/bin/make", ["-s", "-C", Self.root.path, "install-files", "BIN=\(mnemoBinary.path)", "PREFIX=\(prefix.path)"])
        #expect(make.status == 0, "\(make.stdout)\(make.stderr)")
        let installed = prefix.appendingPathComponent("bin/mnemo")
        #expect(FileManager.default.isExecutableFile(atPath: installed.path))
        let version = try runToEnd(installed.path, ["--version"])
        #expect(version.status == 0 && !version.stdout.isEmpty, "\(version.stderr)")

        let bash = prefix.appendingPathComponent("share/bash-completion/completions/mnemo")
        let zsh = prefix.appendingPathComponent("share/zsh/site-functions/_mnemo")
        let fish = prefix.appendingPathComponent("share/fish/vendor_completions.d/mnemo.fish")
        for script in [bash, zsh, fish] {
            let text = (try? String(contentsOf: script, encoding: .utf8)) ?? ""
            #expect(text.contains("ask") && text.contains("query") && text.contains("serve"), "\(script.lastPathComponent): \(text.prefix(200))")
        }
        let syntax = try runToEnd("/bin/bash", ["-n", bash.path])
        #expect(syntax.status == 0, "\(syntax.stderr)")
        // Sourced in an interactive-like shell, the bash script registers a completion for mnemo.
        let registered = try runToEnd("/bin/bash", ["-c", "source '\(bash.path)' && complete -p mnemo"])
        #expect(registered.status == 0 && registered.stdout.contains("mnemo"), "\(registered.stdout)\(registered.stderr)")
    }
}
