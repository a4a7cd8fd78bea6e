import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Crash-safe file replacement: write a temporary file beside the target, fsync it, rename it over the
/// target, fsync the directory. A reader sees the old file or the new one, never a torn one.
enum AtomicFile {
    static func write(_ data: Data, to path: String) throws {
        let temporary = "\(path).tmp.\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw StoreError(.io, "\(temporary): cannot write (\(String(cString: strerror(errno))))")
        }
        try commit(temporary, to: path)
    }

    /// fsyncs `temporary` (already fully written), renames it to `path`, fsyncs the directory.
    static func commit(_ temporary: String, to path: String) throws {
        try fsyncPath(temporary, directory: false)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw StoreError(.io, "\(path): rename failed (\(reason))")
        }
        try fsyncPath((path as NSString).deletingLastPathComponent, directory: true)
    }

    static func fsyncPath(_ path: String, directory: Bool) throws {
        let fd = open(path.isEmpty ? "." : path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
        guard fd >= 0 else { throw StoreError(.io, "\(path): cannot open for fsync (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StoreError(.io, "\(path): fsync failed (\(String(cString: strerror(errno))))") }
    }
}

/// An exclusive advisory lock on a file (flock): one writer per store across processes.
final class FileLock {
    private let fd: Int32

    /// Waits up to `timeout` seconds for the lock.
    init(path: String, timeout: TimeInterval, what: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError(.io, "\(path): cannot open lock file (\(String(cString: strerror(errno))))") }
        let deadline = Date().addingTimeInterval(timeout)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, Date() < deadline else {
                close(fd)
                throw StoreError(.locked, "\(what) is being written by another mnemo process (waited \(Int(timeout)) s for \(path))")
            }
            usleep(50_000)
        }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
