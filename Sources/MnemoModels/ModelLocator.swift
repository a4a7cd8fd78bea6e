import Foundation

/// Where installed models live, and the short names users may give instead of paths.
///
/// `make setup` installs into `$MNEMO_MODELS`, by default `${XDG_DATA_HOME:-~/.local/share}/mnemo/models`.
public enum ModelLocator {
    public static let defaultEncoder = "all-MiniLM-L6-v2"

    public static var modelsDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["MNEMO_MODELS"], !dir.isEmpty { return dir }
        let data = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".local/share")
        return (data as NSString).appendingPathComponent("mnemo/models")
    }

    /// A path as given if it exists, else the installed model of that name.
    public static func resolve(_ nameOrPath: String) throws -> String {
        if FileManager.default.fileExists(atPath: nameOrPath) { return nameOrPath }
        let installed = (modelsDirectory as NSString).appendingPathComponent(nameOrPath)
        if FileManager.default.fileExists(atPath: installed) { return installed }
        throw ModelError(.fileNotFound, "model '\(nameOrPath)' not found (neither a path nor installed in \(modelsDirectory); run `make setup` or set MNEMO_MODELS)")
    }
}
