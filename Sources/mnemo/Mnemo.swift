import ArgumentParser
import MnemoModels
import MnemoTensor

@main
struct Mnemo: AsyncParsableCommand {  // async: `serve` and `mcp` run async servers
    /// `mnemo --version --json` reports the CPU and the kernels chosen for it with the version (plain
    /// `--version` stays the bare version string that scripts expect).
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if Set(arguments) == ["--version", "--json"] {
            do {
                try Terminal.printJSON(VersionReport(version: configuration.version, hardware: Hardware.report, models: ModelLocator.installedModels()))
            } catch { exit(withError: error) }
            return
        }
        await main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "mnemo",
        abstract: "Mnemo: retrieval memory that compresses each sentence into one vector.",
        discussion: """
        Models are read from $MNEMO_MODELS (default ~/.local/share/mnemo/models), installed by `make setup`.

        Examples:
          mnemo index ~/notes --store ~/memory
          mnemo query "when was the boiler serviced?" --store ~/memory
          mnemo ask "when is the boiler's next service due?" --store ~/memory
          mnemo chat --session home --store ~/memory
          mnemo embed "The cat sits on the mat." "A feline is resting on a rug."
          mnemo embed --file notes.txt --json > vectors.json
          mnemo tokenize "Hello, world! Unbelievable." --json
          mnemo calc "2^100 / 3"
          mnemo sql --db Examples/shop.sqlite "SELECT count(*) FROM orders"
          mnemo generate --chat "Write a Python function that reverses a string."
          mnemo serve --store ~/memory --port 8080
          mnemo mcp --store ~/memory
          mnemo doctor                  # the CPU, the kernels chosen for it, the installed models
        """,
        version: "0.1.0",
        subcommands: [IndexCommand.self, QueryCommand.self, AskCommand.self, ChatCommand.self, DeleteCommand.self, StatsCommand.self, RebuildCommand.self,
                      EmbedCommand.self, TokenizeCommand.self, GenerateCommand.self, EvalCommand.self, BenchCommand.self,
                      CalcCommand.self, SQLCommand.self, TrainProjectorCommand.self, ServeCommand.self, McpCommand.self, DoctorCommand.self]
    )
}
