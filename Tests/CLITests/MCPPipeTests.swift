import Foundation
import Testing

/// `mnemo mcp` with its input piped and closed at once, as a script or a client that exits does: every
/// request read is answered, every add is stored, and the process exits 0 (it used to crash in 10 of
/// 12 runs and answer 0–1 of 3 requests).
@Suite(.tags(.realModel), .needsModels) struct MCPPipeTests {
    static let initialize = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"pipe","version":"1"}}}"#
    static let initialized = #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
    static let list = #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#
    static func add(_ run: Int) -> String {
        #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"memory_add","arguments":{"text":"Run \#(run): the spare key is under the blue pot.","source":"run-\#(run)"}}}"#
    }
    static let search = #"{"jsonrpc":"2.0","id":"four","method":"tools/call","params":{"name":"memory_search","arguments":{"query":"boiler","k":1}}}"#

    /// The ids of the responses on standard output.
    func responseIDs(_ stdout: String) -> [String] {
        stdout.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], object["method"] == nil else { return nil }
            return object["id"].map { "\($0)" }
        }.sorted()
    }

    @Test func everyPipedRequestIsAnsweredAndEveryAddStored_realModel() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("store").path
        let note = dir.appendingPathComponent("boiler.txt")
        try "The boiler was serviced by Dunmore Heating in March.\n".write(to: note, atomically: true, encoding: .utf8)
        try #require(try mnemo(["index", note.path, "--store", store]).status == 0)

        let runs = 50
        let sequences: [(name: String, lines: (Int) -> [String], ids: [String])] = [
            ("initialize + tools/list", { _ in [Self.initialize, Self.initialized, Self.list] }, ["1", "2"]),
            ("search", { _ in [Self.initialize, Self.initialized, Self.list, Self.search] }, ["1", "2", "four"]),
            ("add", { run in [Self.initialize, Self.initialized, Self.list, Self.add(run)] }, ["1", "2", "3"]),
        ]
        for sequence in sequences {
            var failures: [String] = []
            for run in 0..<runs {
                let input = Data((sequence.lines(run).joined(separator: "\n") + "\n").utf8)
                let r = try mnemo(["mcp", "--store", store, "--threads", "1"], stdin: input)
                let ids = responseIDs(r.stdout)
                if r.status != 0 || ids != sequence.ids || r.stderr.contains("crashed") {
                    failures.append("run \(run): exit \(r.status), responses \(ids), \(r.stderr.suffix(300))")
                }
            }
            #expect(failures.isEmpty, "\(sequence.name): \(failures.count) of \(runs) runs failed; first: \(failures.first ?? "")")
        }
        // Every add was stored: one document per run, beside the indexed note.
        let stats = try #require(try mnemo(["stats", "--store", store, "--json"]).json)
        #expect(stats["documents"] as? Int == 1 + runs, "\(stats)")
    }

    /// Lines that are not well-formed JSON-RPC get JSON-RPC's own errors: -32700 with id null for text
    /// that is not JSON, -32600 for a message that is not a request, -32602 for params of the wrong
    /// shape; the requests around them are still answered.
    @Test func malformedMessagesGetJSONRPCErrorCodes_realModel() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("store").path
        let note = dir.appendingPathComponent("boiler.txt")
        try "The boiler was serviced by Dunmore Heating in March.\n".write(to: note, atomically: true, encoding: .utf8)
        try #require(try mnemo(["index", note.path, "--store", store]).status == 0)
        let lines = [
            Self.initialize, Self.initialized,
            "{not json",
            #"{"jsonrpc":"2.0","id":5}"#,
            #"{"jsonrpc":"1.0","id":6,"method":"tools/list"}"#,
            #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":5}"#,
            #"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":3}}"#,
            #"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"memory_search","arguments":[1]}}"#,
            "[]",
            Self.list,
        ]
        let r = try mnemo(["mcp", "--store", store, "--threads", "1"], stdin: Data((lines.joined(separator: "\n") + "\n").utf8))
        #expect(r.status == 0, "\(r.stderr.suffix(300))")
        var errors: [String: Int] = [:]  // id (or "null") -> code
        var answered: Set<String> = []
        for line in r.stdout.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            let id = object["id"] is NSNull ? "null" : object["id"].map { "\($0)" } ?? "none"
            if let error = object["error"] as? [String: Any] { errors[id] = error["code"] as? Int }
            else { answered.insert(id) }
        }
        #expect(answered == ["1", "2"], "\(r.stdout)")
        #expect(errors["5"] == -32600 && errors["6"] == -32600, "\(errors)")
        #expect(errors["7"] == -32602 && errors["8"] == -32602 && errors["9"] == -32602, "\(errors)")
        #expect(errors["null"] != nil, "\(errors)")  // the parse error and the empty batch
        let nullCodes = r.stdout.split(separator: "\n").filter { $0.contains(#""id":null"#) }
        #expect(nullCodes.count == 2 && nullCodes.contains { $0.contains("-32700") } && nullCodes.contains { $0.contains("-32600") }, "\(nullCodes)")
    }
}
