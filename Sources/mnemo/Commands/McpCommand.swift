import ArgumentParser
import Foundation
import MnemoServer

struct McpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve Mnemo's tools to an MCP client over standard input and output.",
        discussion: """
        Tools: memory_search, memory_add, memory_delete, ask (answers from the memory with the local model, \
        loaded on first use), calc (exact arithmetic) and sql (read-only SQLite), each with a JSON Schema. \
        Standard output carries only protocol messages; diagnostics go to standard error.

        A client's configuration, e.g. for Claude Desktop:
          {"mcpServers": {"mnemo": {"command": "mnemo", "args": ["mcp", "--store", "/home/me/memory"]}}}

        Examples:
          mnemo mcp --store ~/memory
          mnemo mcp --store ~/memory --model smollm2 --db Examples/shop.sqlite
        """
    )

    @Option(help: "Default database for the sql tool (default: $MNEMO_SQL_DB).")
    var db: String?

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var models: ServerModelOptions

    func run() async throws {
        let services = try models.services(store: storeOptions)
        let database = db ?? ProcessInfo.processInfo.environment["MNEMO_SQL_DB"].flatMap { $0.isEmpty ? nil : $0 }
        let toolbox = MCPToolbox(memory: services.memory, generation: services.generation, defaultDatabase: database)
        try await MCPStdioServer.run(toolbox: toolbox, version: Mnemo.configuration.version)
        await services.memory.close()
    }
}
