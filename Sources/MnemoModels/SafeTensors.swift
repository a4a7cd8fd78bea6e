import Foundation
import MnemoTensor

/// A safetensors file: an 8-byte little-endian header length, a JSON header naming each tensor's
/// dtype, shape and byte range, then the data. Everything in the header is validated against the file
/// before any tensor is read, and `finish()` reports tensors the model never asked for.
public final class SafeTensorsFile {
    public enum DType: String, Sendable {
        case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
        case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

        var size: Int {
            switch self {
            case .f64, .i64: 8
            case .f32, .i32: 4
            case .f16, .bf16, .i16: 2
            case .i8, .u8, .bool: 1
            }
        }
    }

    public struct Entry: Sendable {
        public let dtype: DType
        public let shape: [Int]
        /// Byte range relative to the start of the data section.
        public let range: Range<Int>
    }

    public let path: String
    public let entries: [String: Entry]
    /// The header's `__metadata__` (string keys and values), empty when absent.
    public let metadata: [String: String]
    private let file: MappedFile
    private let dataStart: Int
    private var used = Set<String>()

    /// The most a header may take: real headers are kilobytes; this bounds the JSON parse.
    static let maxHeaderBytes = 100 << 20

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        let bytes = file.bytes
        guard bytes.count >= 8 else {
            throw ModelError(.corrupt, "\(path): \(bytes.count) bytes is too short for a safetensors file (8-byte header length missing)")
        }
        let headerLength = bytes.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(min(bytes.count - 8, Self.maxHeaderBytes)) else {
            throw ModelError(.corrupt, "\(path): header length \(headerLength) exceeds the file (\(bytes.count) bytes); truncated or not safetensors")
        }
        dataStart = 8 + Int(headerLength)
        let headerBytes = Data(bytes[8..<dataStart])
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerBytes) } catch {
            throw ModelError(.corrupt, "\(path): header is not valid JSON (\(error.localizedDescription))")
        }
        guard let header = json as? [String: Any] else {
            throw ModelError(.corrupt, "\(path): header is not a JSON object")
        }
        let dataSize = bytes.count - dataStart
        var entries: [String: Entry] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any],
                  let dtypeName = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int],
                  let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw ModelError(.corrupt, "\(path): tensor '\(name)' has a malformed header entry") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw ModelError(.unsupported, "\(path): tensor '\(name)' has unknown dtype \(dtypeName)")
            }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataSize else {
                throw ModelError(.corrupt, "\(path): tensor '\(name)' lies outside the data section (offsets \(offsets), data \(dataSize) bytes)")
            }
            var elements = 1
            for d in shape {
                let (p, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else { throw ModelError(.corrupt, "\(path): tensor '\(name)' shape \(shape) overflows") }
                elements = p
            }
            guard elements.multipliedReportingOverflow(by: dtype.size) == (offsets[1] - offsets[0], false) else {
                throw ModelError(.corrupt, "\(path): tensor '\(name)' has \(offsets[1] - offsets[0]) bytes but shape \(shape) of \(dtypeName) needs \(elements * dtype.size)")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
        }
        self.entries = entries
        if let meta = header["__metadata__"] {
            guard let strings = meta as? [String: String] else { throw ModelError(.corrupt, "\(path): __metadata__ is not a map of strings") }
            metadata = strings
        } else {
            metadata = [:]
        }
    }

    /// Writes float32 tensors and string metadata as a safetensors file, atomically (temporary file,
    /// then rename), so a crash never leaves a half-written file under `path`.
    public static func write(_ tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)],
                             metadata: [String: String], to path: String) throws {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for t in tensors {
            guard t.shape.reduce(1, *) == t.values.count else {
                throw ModelError(.badInput, "safetensors write: tensor '\(t.name)' has \(t.values.count) values for shape \(t.shape)")
            }
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.values.count]]
            offset += 4 * t.values.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }  // aligns the data section, as the reference writer does
        var data = Data()
        data.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for t in tensors { data.append(contentsOf: UnsafeRawBufferPointer(t.values)) }
        let temporary = path + ".tmp-\(getpid())"
        do {
            try data.write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else {
                throw ModelError(.unreadable, "\(path): cannot move the written file into place (\(String(cString: strerror(errno))))")
            }
        } catch let error as ModelError {
            unlink(temporary)
            throw error
        } catch {
            unlink(temporary)
            throw ModelError(.unreadable, "\(path): cannot write (\(error.localizedDescription))")
        }
    }

    /// A float32 tensor of exactly `shape`, copied out of the map (weights are then aligned and owned).
    public func float32(_ name: String, shape: [Int]) throws -> FloatBuffer {
        guard let entry = entries[name] else {
            throw ModelError(.wrongTensor, "\(path): tensor '\(name)' is missing")
        }
        guard entry.dtype == .f32 else {
            throw ModelError(.wrongTensor, "\(path): tensor '\(name)' is \(entry.dtype.rawValue), expected F32")
        }
        guard entry.shape == shape else {
            throw ModelError(.wrongTensor, "\(path): tensor '\(name)' has shape \(entry.shape), expected \(shape)")
        }
        used.insert(name)
        let out = FloatBuffer(count: entry.range.count / 4, zeroed: false)
        let source = UnsafeRawBufferPointer(rebasing: file.bytes[(dataStart + entry.range.lowerBound)..<(dataStart + entry.range.upperBound)])
        UnsafeMutableRawBufferPointer(start: out.pointer, count: entry.range.count).copyMemory(from: source)
        // A NaN or infinite weight makes every vector NaN, which dense search can never find: refuse the file.
        if let at = QuantizedMatrix.firstNonFinite(type: 0, data: out.pointer, count: out.count) {
            throw ModelError(.corrupt, "\(path): tensor '\(name)' holds a value that is not a finite number (NaN or infinity, at value \(at))")
        }
        return out
    }

    /// Marks tensors the model deliberately does not use (e.g. BERT's pooler head).
    public func ignore(_ names: [String]) {
        for name in names where entries[name] != nil { used.insert(name) }
    }

    /// Fails if the file holds tensors the model never read: a sign of the wrong architecture or config.
    public func finish() throws {
        let unused = Set(entries.keys).subtracting(used).sorted()
        guard unused.isEmpty else {
            let shown = unused.prefix(5).joined(separator: ", ")
            throw ModelError(.unusedTensor, "\(path): \(unused.count) tensor(s) not used by the model (\(shown)\(unused.count > 5 ? ", …" : ""))")
        }
    }
}
