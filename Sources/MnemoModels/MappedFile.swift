import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory map of a whole file. Model files are large; mapping them lets the kernel page
/// in only what is read and share pages between processes.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    /// True when `bytes` is a heap copy (freed, not unmapped).
    private let isCopy: Bool

    /// The bytes of `data` in an allocation of exactly their size, read as if they were the file at
    /// `path` (the fuzz targets use it so that AddressSanitizer sees a read one byte past the end).
    public init(copying data: some Collection<UInt8>, path: String) {
        self.path = path
        isCopy = true
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: data.count, alignment: 64)
        copy.copyBytes(from: data)
        bytes = UnsafeRawBufferPointer(copy)
    }

    public init(path: String) throws {
        self.path = path
        isCopy = false
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw ModelError(errno == ENOENT ? .fileNotFound : .unreadable, "\(path): cannot open (\(reason))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw ModelError(.unreadable, "\(path): not a regular file")
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw ModelError(.unreadable, "\(path): mmap failed (\(String(cString: strerror(errno))))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if isCopy {
            UnsafeMutableRawBufferPointer(mutating: bytes).deallocate()
        } else if let base = bytes.baseAddress {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        }
    }

    public var count: Int { bytes.count }
}
