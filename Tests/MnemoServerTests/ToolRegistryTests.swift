import Foundation
import Hummingbird
import MCP
import MnemoCore
import MnemoTools
import Testing
@testable import MnemoServer

/// One tool registry (MnemoTools' `ToolSpec`) behind every edge: MCP's `tools/list` and HTTP's
/// `GET /v1/tools` show the router's tools under the same names, schemas, descriptions and row limit.
@Suite(.tags(.realModel), .needsModels) struct ToolRegistryTests {
    static let shop = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/shop.sqlite").path

    @Test func mcpListsAndRunsTheRegistryToolsRealModel() async throws {
        let server = try TestServer()
        defer { server.cleanUp() }
        let toolbox = MCPToolbox(memory: server.services.memory, generation: server.services.generation, defaultDatabase: Self.shop)
        let registry = try ToolSpec.all(database: ReadOnlyDatabase(path: Self.shop))
        #expect(registry.map(\.name) == ["calculator", "sql_query"])
        for spec in registry {
            let tool = try #require(toolbox.tools.first { $0.name == spec.name }, "MCP does not list \(spec.name)")
            #expect(tool.description == spec.fullDescription)
            #expect(tool.inputSchema == MCPToolbox.value(spec.parameters))
        }
        #expect(!toolbox.tools.contains { $0.name == "calc" || $0.name == "sql" })

        let sum = await toolbox.call("calculator", arguments: ["expression": "1/3 + 1/6"])
        #expect(sum.isError == false)
        #expect(sum.structuredContent?.objectValue?["result"] == "0.5" && sum.structuredContent?.objectValue?["exact"] == true)
        // The router's limit holds through MCP: 50 rows of a longer result.
        let many = await toolbox.call("sql_query", arguments: ["query": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 80) SELECT i FROM n"])
        #expect(many.isError == false)
        let rows = many.structuredContent?.objectValue?["rows"]?.arrayValue
        #expect(rows?.count == ToolSpec.maxSQLRows, "\(String(describing: many.structuredContent))")
        let extra = await toolbox.call("calculator", arguments: ["expression": "2", "digits": 3])
        #expect(extra.isError == true)
        #expect(Self.text(extra).contains("digits"), "\(Self.text(extra))")
        let old = await toolbox.call("calc", arguments: ["expression": "2"])
        #expect(old.isError == true && Self.text(old).contains("calculator"), "\(Self.text(old))")

        // Without a database sql_query is not offered, and a call says how to give one.
        let bare = MCPToolbox(memory: server.services.memory, generation: server.services.generation, defaultDatabase: nil)
        #expect(!bare.tools.contains { $0.name == "sql_query" })
        let none = await bare.call("sql_query", arguments: ["query": "SELECT 1"])
        #expect(none.isError == true && Self.text(none).contains("--db"), "\(Self.text(none))")
    }

    @Test func httpListsAndRunsTheRegistryToolsRealModel() async throws {
        let server = try TestServer()
        defer { server.cleanUp() }
        try await server.live { client in
            try await client.execute(uri: "/v1/tools", method: .get) { response in
                #expect(response.status == .ok)
                let data = response.json["data"] as? [[String: Any]] ?? []
                let function = data.first?["function"] as? [String: Any]
                #expect(data.count == 1 && function?["name"] as? String == "calculator", "\(response.text)")
                #expect(function?["description"] as? String == ToolSpec.calculator().description)
            }
            try await client.execute(uri: "/v1/tools/calculator", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["expression": "2^100"])) { response in
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.json["text"] as? String == "1267650600228229401496703205376")
                #expect(response.text.contains(#""result": {"result": "1267650600228229401496703205376", "exact": true"#), "\(response.text)")
            }
            try await client.execute(uri: "/v1/tools/calculator", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["expression": "1/0"])) { response in
                #expect(response.status == .unprocessableContent, "\(response.text)")
            }
            try await client.execute(uri: "/v1/tools/calculator", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["expr": "1"])) { response in
                #expect(response.status == .unprocessableContent)
                #expect((response.apiError?["message"] as? String ?? "").contains("expression"), "\(response.text)")
            }
            try await client.execute(uri: "/v1/tools/calculator", method: .post, headers: jsonHeaders,
                                     body: ByteBuffer(string: "{\"expression\": ")) { response in
                #expect(response.status == .badRequest, "\(response.text)")
            }
            try await client.execute(uri: "/v1/tools/sql_query", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["query": "SELECT 1"])) { response in
                #expect(response.status == .notFound, "\(response.text)")
                #expect((response.apiError?["message"] as? String ?? "").contains("calculator"))
            }
        }
    }

    static func text(_ result: CallTool.Result) -> String {
        result.content.compactMap { if case .text(let t, _, _) = $0 { t } else { nil } }.joined()
    }
}
