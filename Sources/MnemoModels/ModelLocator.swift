import Foundation

/// Where installed models live, and the short names users may give instead of paths.
///
/// `make setup` installs into `$MNEMO_MODELS`, by default `${XDG_DATA_HOME:-~/.local/share}/mnemo/models`.
public enum ModelLocator {
    public static let defaultEncoder = "all-MiniLM-L6-v2"
    /// The chat model `make setup` installs by default.
    public static let defaultChatModel = "qwen-0.5b"

    public static var modelsDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["MNEMO_MODELS"], !dir.isEmpty { return dir }
        let data = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".local/share")
        return (data as NSString).appendingPathComponent("mnemo/models")
    }

    /// Short names for the installed models (`make setup`).
    public static let aliases = [
        "minilm": "all-MiniLM-L6-v2",
        "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "qwen-0.5b": "Qwen2.5-Coder-0.5B-Instruct.gguf",
        "qwen-1.5b": "Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf",
    ]

    /// Where the projector for a decoder file is looked for: `<models>/projectors/<file stem>.safetensors`.
    /// `make setup` copies the projectors shipped in the repository's `Index/projectors/` there.
    public static func projectorPath(forModel modelPath: String) -> String {
        let stem = (URL(fileURLWithPath: modelPath).lastPathComponent as NSString).deletingPathExtension
        return ((modelsDirectory as NSString).appendingPathComponent("projectors") as NSString).appendingPathComponent(stem + ".safetensors")
    }

    /// The short names of the models installed now, in name order.
    public static func installedModels() -> [String] {
        aliases.filter { FileManager.default.fileExists(atPath: (modelsDirectory as NSString).appendingPathComponent($0.value)) }
            .keys.sorted()
    }

    /// A path as given if it exists, else the installed model of that name or short name.
    public static func resolve(_ nameOrPath: String) throws -> String {
        if FileManager.default.fileExists(atPath: nameOrPath) { return nameOrPath }
        let installed = (modelsDirectory as NSString).appendingPathComponent(aliases[nameOrPath.lowercased()] ?? nameOrPath)
        if FileManager.default.fileExists(atPath: installed) { return installed }
        throw ModelError(.fileNotFound, "model '\(nameOrPath)' not found (neither a path nor installed in \(modelsDirectory); short names: \(aliases.keys.sorted().joined(separator: ", ")); run `make setup` or set MNEMO_MODELS)")
    }
}
