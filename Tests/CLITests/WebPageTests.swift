import Foundation
import Testing

/// The memory browser `mnemo serve` serves at `/`, in a real browser: Debian's headless Chromium driven by
/// Selenium (Tests/Scripts/browser_check.py) against a real server with the real encoder and Qwen 0.5B.
/// Each step's screenshot is written to `.build/screenshots/web/` (or $MNEMO_SCREENSHOTS).
@Suite(.serialized, .tags(.realModel), .needsModels) struct WebPageTests {
    static let root = ServerIntegrationTests.root
    static var shots: URL {
        let dir = ProcessInfo.processInfo.environment["MNEMO_SCREENSHOTS"].map { URL(fileURLWithPath: $0) }
            ?? root.appendingPathComponent(".build/screenshots/web")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A store with the Examples corpus and a document full of markup that must never run.
    static func store(in dir: URL) throws -> URL {
        let store = dir.appendingPathComponent("store")
        let hostile = dir.appendingPathComponent("hostile.txt")
        try """
            Hostile note: <script>window.__pwned=1</script> and <img src=x onerror="window.__pwned=1"> and \
            <iframe src="javascript:window.__pwned=1"></iframe> <b>bold</b> pwned script onerror img.

            """.write(to: hostile, atomically: true, encoding: .utf8)
        let indexed = try mnemo(["index", root.appendingPathComponent("Examples/corpus").path, hostile.path, "--store", store.path])
        try #require(indexed.status == 0, "\(indexed.stderr)")
        return store
    }

    @Test func searchOpenAddUploadDeleteAndAskInChromiumRealModel() throws {
        let python = try ServerIntegrationTests.clientsPython()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Self.store(in: dir)
        let upload = dir.appendingPathComponent("aquarium.md")
        try "# Aquarium\n\nThe aquarium heater thermostat is set to 25 degrees; the filter is rinsed every Sunday.\n"
            .write(to: upload, atomically: true, encoding: .utf8)
        let server = try BackgroundMnemo(["serve", "--port", "0", "--store", store.path], logs: dir)
        defer { server.killIfRunning() }
        let port = try ServerIntegrationTests.waitForPort(server)
        let check = try ServerIntegrationTests.run(python, [Self.root.appendingPathComponent("Tests/Scripts/browser_check.py").path,
                                                            "full", "http://127.0.0.1:\(port)", Self.shots.path, upload.path])
        #expect(check.status == 0, "\(check.stdout)\n\(check.stderr.suffix(3000))\nserver: \(server.stderr.suffix(2000))")
        #expect(check.stdout.contains("browser check: all"), "\(check.stdout)")
        for name in ["02-search", "04-hostile", "07-ask", "08-narrow"] {
            #expect(FileManager.default.fileExists(atPath: Self.shots.appendingPathComponent(name + ".png").path), "\(name).png")
        }
    }

    @Test func beyondLoopbackThePageAsksForTheTokenRealModel() throws {
        let python = try ServerIntegrationTests.clientsPython()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Self.store(in: dir)
        let token = "browser-test-token-0123456789-abcdefghij"
        let tokenFile = dir.appendingPathComponent("token")
        try (token + "\n").write(to: tokenFile, atomically: true, encoding: .utf8)
        let server = try BackgroundMnemo(["serve", "--host", "0.0.0.0", "--port", "0", "--store", store.path,
                                          "--token-file", tokenFile.path], logs: dir)
        defer { server.killIfRunning() }
        let port = try ServerIntegrationTests.waitForPort(server)
        // The page's own files come without the token; the API does not.
        let page = try ServerIntegrationTests.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/"])
        #expect(page.stdout == "200")
        let api = try ServerIntegrationTests.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/v1/memory/stats"])
        #expect(api.stdout == "401")
        let check = try ServerIntegrationTests.run(python, [Self.root.appendingPathComponent("Tests/Scripts/browser_check.py").path,
                                                            "token", "http://127.0.0.1:\(port)", Self.shots.path, token])
        #expect(check.status == 0, "\(check.stdout)\n\(check.stderr.suffix(3000))\nserver: \(server.stderr.suffix(2000))")
        #expect(check.stdout.contains("browser check: all"), "\(check.stdout)")
    }
}
