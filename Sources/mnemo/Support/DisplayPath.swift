import Foundation

/// A stored source as people read it: relative to the current directory when it lies below it
/// (sources are stored as absolute paths so that any directory finds them; `--json` keeps those).
/// From `/` paths stay absolute.
func displayPath(_ source: String, from directory: String = FileManager.default.currentDirectoryPath) -> String {
    guard source.hasPrefix("/"), !directory.isEmpty, directory != "/" else { return source }
    let base = directory.hasSuffix("/") ? directory : directory + "/"
    return source.hasPrefix(base) && source.count > base.count ? String(source.dropFirst(base.count)) : source
}
