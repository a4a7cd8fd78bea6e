import Foundation
import MnemoStore

/// `--store postgresql://USER@HOST:PORT/DB`: how a shared store is named, shown and given a local replica.
public enum PostgresAddress {
    /// Whether `store` names a PostgreSQL database rather than a directory.
    public static func isURL(_ store: String) -> Bool {
        store.hasPrefix("postgresql://") || store.hasPrefix("postgres://")
    }

    /// Checks a URL before any connection: parseable, and without a password, which a command line would
    /// show to every user of `ps`.
    public static func validate(_ url: String) throws {
        guard let parts = URLComponents(string: url), parts.scheme == "postgresql" || parts.scheme == "postgres" else {
            throw StoreError(.badInput, "\(redacted(url)): not a PostgreSQL URL (expected postgresql://USER@HOST:PORT/DATABASE)")
        }
        if parts.password != nil {
            throw StoreError(.badInput, "\(redacted(url)): a password in the URL would show in `ps`; give it in PGPASSWORD, ~/.pgpass or PGPASSFILE instead")
        }
        guard let host = parts.host, !host.isEmpty else {
            throw StoreError(.badInput, "\(redacted(url)): no host (expected postgresql://USER@HOST:PORT/DATABASE)")
        }
    }

    /// The URL with any password replaced by `***`, for messages and logs.
    public static func redacted(_ url: String) -> String {
        guard var parts = URLComponents(string: url) else {
            // Unparseable: drop everything between "://" and "@", where a password would be.
            if let scheme = url.range(of: "://"), let at = url.range(of: "@", range: scheme.upperBound..<url.endIndex) {
                return String(url[..<scheme.upperBound]) + "***" + String(url[at.lowerBound...])
            }
            return url
        }
        if parts.password != nil { parts.password = "***" }
        return parts.string ?? url
    }

    /// The default replica directory for `url`: under Mnemo's data directory, one per user, host, port and
    /// database, so two stores never share one.
    public static func defaultReplica(for url: String, dataDirectory: String) -> String {
        let parts = URLComponents(string: url)
        let name = [parts?.user ?? "", parts?.host ?? "", parts?.port.map(String.init) ?? "5432",
                    String((parts?.path ?? "").drop(while: { $0 == "/" }))]
            .map { $0.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? String($0) : "_" }.joined() }
            .joined(separator: "@")
        return (dataDirectory as NSString).appendingPathComponent("replicas/\(name)")
    }
}
