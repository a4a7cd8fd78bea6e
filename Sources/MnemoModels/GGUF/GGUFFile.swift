import Foundation

// A GGUF (v2/v3) reader: header, typed metadata, tensor infos and the aligned data section, all
// validated against the mapped file before anything is handed out. Every count, length and offset is
// checked with overflow-checked arithmetic; counts are bounded by the bytes left before allocating.

/// A ggml tensor type (the numbers are ggml's `enum ggml_type`).
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1
    case q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, bf16 = 30

    /// Elements per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1: 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K: 256
        }
    }

    /// Bytes per block (ggml's `type_size`).
    public var typeSize: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .f64, .i64: 8
        case .i8: 1
        case .q4_0: 18   // f16 d + 16 nibble bytes
        case .q4_1: 20   // f16 d, m + 16
        case .q5_0: 22   // f16 d + 4 high bits + 16
        case .q5_1: 24   // f16 d, m + 4 + 16
        case .q8_0: 34   // f16 d + 32
        case .q8_1: 36   // f16 d, s + 32
        case .q2_K: 84   // 16 scales + 64 quants + f16 d, dmin
        case .q3_K: 110  // 32 hmask + 64 quants + 12 scales + f16 d
        case .q4_K: 144  // f16 d, dmin + 12 scales + 128 quants
        case .q5_K: 176  // f16 d, dmin + 12 scales + 32 high bits + 128 quants
        case .q6_K: 210  // 128 low + 64 high + 16 scales + f16 d
        case .q8_K: 292  // f32 d + 256 quants + 16 i16 block sums
        }
    }

    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .f64: "F64"
        case .i8: "I8"
        case .i16: "I16"
        case .i32: "I32"
        case .i64: "I64"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q8_1: "Q8_1"
        case .q2_K: "Q2_K"
        case .q3_K: "Q3_K"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        case .q8_K: "Q8_K"
        }
    }
}

/// A typed array held in GGUF metadata. Nested arrays are arrays of `GGUFArray`.
public enum GGUFArray: Sendable, Equatable {
    case uint8([UInt8]), int8([Int8]), uint16([UInt16]), int16([Int16])
    case uint32([UInt32]), int32([Int32]), uint64([UInt64]), int64([Int64])
    case float32([Float]), float64([Double]), bool([Bool]), string([String])
    case array([GGUFArray])

    public var count: Int {
        switch self {
        case .uint8(let a): a.count
        case .int8(let a): a.count
        case .uint16(let a): a.count
        case .int16(let a): a.count
        case .uint32(let a): a.count
        case .int32(let a): a.count
        case .uint64(let a): a.count
        case .int64(let a): a.count
        case .float32(let a): a.count
        case .float64(let a): a.count
        case .bool(let a): a.count
        case .string(let a): a.count
        case .array(let a): a.count
        }
    }

    var typeName: String {
        switch self {
        case .uint8: "uint8[]"
        case .int8: "int8[]"
        case .uint16: "uint16[]"
        case .int16: "int16[]"
        case .uint32: "uint32[]"
        case .int32: "int32[]"
        case .uint64: "uint64[]"
        case .int64: "int64[]"
        case .float32: "float32[]"
        case .float64: "float64[]"
        case .bool: "bool[]"
        case .string: "string[]"
        case .array: "array[]"
        }
    }
}

/// One GGUF metadata value.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), uint64(UInt64), int64(Int64)
    case float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFArray)

    /// The value as an `Int` if it is an integer that fits.
    public var intValue: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    var typeName: String {
        switch self {
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .uint32: "uint32"
        case .int32: "int32"
        case .uint64: "uint64"
        case .int64: "int64"
        case .float32: "float32"
        case .float64: "float64"
        case .bool: "bool"
        case .string: "string"
        case .array(let a): a.typeName
        }
    }
}

/// Where one tensor lives and what it holds.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let type: GGMLType
    /// ggml order: `shape[0]` is the innermost (contiguous) dimension.
    public let shape: [Int]
    public let elementCount: Int
    /// Offset relative to the start of the data section, as stored in the file.
    public let offset: Int
    /// Absolute byte range in the file.
    public let byteRange: Range<Int>
    public var byteCount: Int { byteRange.count }
}

public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    /// Metadata by key, and the keys in file order.
    public let metadata: [String: GGUFValue]
    public let metadataKeys: [String]
    public let tensors: [String: GGUFTensorInfo]
    /// Tensor names in file order.
    public let tensorNames: [String]
    public let alignment: Int
    /// Absolute file offset of the data section.
    public let dataOffset: Int
    /// Absolute file offset where the tensor infos begin (just after the metadata).
    public let tensorInfosOffset: Int
    public var fileSize: Int { file.count }

    private let file: MappedFile

    static let maxTensors: UInt64 = 1 << 24
    static let maxKeyValues: UInt64 = 1 << 24
    static let maxDims = 4
    static let maxArrayDepth = 8

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        path = file.path
        var r = Reader(bytes: file.bytes, path: file.path)
        guard r.bytes.count >= 4 else {
            throw r.error("\(r.bytes.count) bytes is too short for a GGUF file")
        }
        let magic = try r.bytes(4)
        guard Array(magic) == Array("GGUF".utf8) else {
            throw r.error("bad magic \(Array(magic).map { String(format: "%02x", $0) }.joined()) (expected \"GGUF\"); not a GGUF file")
        }
        version = try r.u32("version")
        guard version == 2 || version == 3 else {
            throw ModelError(.unsupported, "\(path): GGUF version \(version) is not supported (only 2 and 3)")
        }
        let tensorCount = try r.u64("tensor count")
        let kvCount = try r.u64("metadata count")
        guard tensorCount <= Self.maxTensors else { throw r.error("tensor count \(tensorCount) is absurd (limit \(Self.maxTensors))") }
        guard kvCount <= Self.maxKeyValues else { throw r.error("metadata count \(kvCount) is absurd (limit \(Self.maxKeyValues))") }
        // Each key/value takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least 8 + 4 + 4 + 8.
        try r.requireRoom(count: kvCount, each: 13, what: "\(kvCount) metadata entries")

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(Int(kvCount))
        for i in 0..<Int(kvCount) {
            let key = try r.string("key of metadata entry \(i)")
            let type = try r.u32("type of '\(key)'")
            let value = try r.value(type: type, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else { throw r.error("metadata key '\(key)' appears twice") }
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard let v = a.intValue, v > 0, v <= 1 << 20, v & (v - 1) == 0 else {
                throw r.error("general.alignment \(a) is not a power of two in 1...2^20")
            }
            alignment = v
        }
        self.alignment = alignment
        tensorInfosOffset = r.position

        try r.requireRoom(count: tensorCount, each: 24, what: "\(tensorCount) tensor infos")
        struct Raw { let name: String; let type: GGMLType; let shape: [Int]; let elements: Int; let offset: Int; let size: Int }
        var raws: [Raw] = []
        raws.reserveCapacity(Int(tensorCount))
        var seen = Set<String>()
        for i in 0..<Int(tensorCount) {
            let name = try r.string("name of tensor \(i)")
            guard seen.insert(name).inserted else { throw r.error("tensor '\(name)' appears twice") }
            let nDims = try r.u32("dimension count of tensor '\(name)'")
            guard nDims >= 1, nDims <= Self.maxDims else {
                throw r.error("tensor '\(name)' has \(nDims) dimensions (1...\(Self.maxDims) allowed)")
            }
            var shape: [Int] = []
            var elements = 1
            for _ in 0..<Int(nDims) {
                let d = try r.u64("dimension of tensor '\(name)'")
                guard let di = Int(exactly: d), di <= Int(Int32.max) * 4 else {
                    throw r.error("tensor '\(name)' has absurd dimension \(d)")
                }
                let (p, o) = elements.multipliedReportingOverflow(by: di)
                guard !o else { throw r.error("tensor '\(name)' element count overflows (shape \(shape + [di]))") }
                elements = p
                shape.append(di)
            }
            let typeNumber = try r.u32("type of tensor '\(name)'")
            guard let type = GGMLType(rawValue: typeNumber) else {
                throw ModelError(.unsupported, "\(path): tensor '\(name)' has unknown ggml type \(typeNumber)")
            }
            guard shape[0] % type.blockSize == 0 else {
                throw r.error("tensor '\(name)' of type \(type) has row length \(shape[0]), not a multiple of its block size \(type.blockSize)")
            }
            let (size, o) = (elements / type.blockSize).multipliedReportingOverflow(by: type.typeSize)
            guard !o else { throw r.error("tensor '\(name)' byte size overflows") }
            let offset = try r.u64("offset of tensor '\(name)'")
            guard let off = Int(exactly: offset), off % alignment == 0 else {
                throw r.error("tensor '\(name)' offset \(offset) is not a multiple of the alignment \(alignment)")
            }
            raws.append(Raw(name: name, type: type, shape: shape, elements: elements, offset: off, size: size))
        }

        // The data section starts at the next multiple of the alignment (it may be empty: vocab-only files).
        let (padded, o1) = r.position.addingReportingOverflow(alignment - 1)
        guard !o1 else { throw r.error("data offset overflows") }
        let dataOffset = padded / alignment * alignment
        self.dataOffset = dataOffset
        let size = file.count
        if !raws.isEmpty && dataOffset > size {
            throw r.error("data section would start at \(dataOffset), past the end of the file (\(size) bytes); truncated")
        }
        var infos: [String: GGUFTensorInfo] = [:]
        infos.reserveCapacity(raws.count)
        for t in raws {
            let (start, o2) = dataOffset.addingReportingOverflow(t.offset)
            let (end, o3) = start.addingReportingOverflow(t.size)
            guard !o2, !o3, end <= size else {
                throw r.error("tensor '\(t.name)' (\(t.type), shape \(t.shape), \(t.size) bytes at data offset \(t.offset)) lies outside the file (\(size) bytes); truncated")
            }
            infos[t.name] = GGUFTensorInfo(name: t.name, type: t.type, shape: t.shape, elementCount: t.elements,
                                           offset: t.offset, byteRange: start..<end)
        }
        tensors = infos
        tensorNames = raws.map(\.name)
    }

    // MARK: - Tensor data

    /// The tensor's bytes inside the map; valid while this `GGUFFile` is alive. An info that does not
    /// belong to this file (its range outside the file) gives an empty buffer.
    public func bytes(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        guard tensor.byteRange.lowerBound >= 0, tensor.byteRange.upperBound <= file.count else {
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        return UnsafeRawBufferPointer(rebasing: file.bytes[tensor.byteRange])
    }

    public func bytes(of name: String) throws -> UnsafeRawBufferPointer {
        guard let t = tensors[name] else { throw ModelError(.wrongTensor, "\(path): tensor '\(name)' is missing") }
        return bytes(of: t)
    }

    /// The base address of a tensor's bytes (nil only for an empty tensor).
    public func pointer(to name: String) throws -> UnsafeRawPointer? {
        try bytes(of: name).baseAddress
    }

    // MARK: - Typed metadata

    private func wrongType(_ key: String, _ value: GGUFValue, _ expected: String) -> ModelError {
        ModelError(.badConfig, "\(path): metadata '\(key)' is \(value.typeName), expected \(expected)")
    }

    /// The value of `key` if present; nil if absent; throws if present with another type.
    public func string(_ key: String) throws -> String? {
        guard let v = metadata[key] else { return nil }
        guard case .string(let s) = v else { throw wrongType(key, v, "string") }
        return s
    }

    /// Any integer type, converted to `Int` (throws if it does not fit).
    public func int(_ key: String) throws -> Int? {
        guard let v = metadata[key] else { return nil }
        guard let i = v.intValue else { throw wrongType(key, v, "an integer that fits in Int") }
        return i
    }

    /// float32 or float64 (integers are accepted too).
    public func float(_ key: String) throws -> Double? {
        guard let v = metadata[key] else { return nil }
        switch v {
        case .float32(let f): return Double(f)
        case .float64(let f): return f
        default:
            guard let i = v.intValue else { throw wrongType(key, v, "a number") }
            return Double(i)
        }
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = metadata[key] else { return nil }
        guard case .bool(let b) = v else { throw wrongType(key, v, "bool") }
        return b
    }

    public func stringArray(_ key: String) throws -> [String]? {
        guard let v = metadata[key] else { return nil }
        guard case .array(.string(let a)) = v else { throw wrongType(key, v, "string[]") }
        return a
    }

    /// An array of any integer type, converted to `Int`.
    public func intArray(_ key: String) throws -> [Int]? {
        guard let v = metadata[key] else { return nil }
        guard case .array(let a) = v else { throw wrongType(key, v, "an integer array") }
        switch a {
        case .uint8(let x): return x.map { Int($0) }
        case .int8(let x): return x.map { Int($0) }
        case .uint16(let x): return x.map { Int($0) }
        case .int16(let x): return x.map { Int($0) }
        case .uint32(let x): return x.map { Int($0) }
        case .int32(let x): return x.map { Int($0) }
        case .int64(let x): return x.map { Int($0) }
        case .uint64(let x):
            var out: [Int] = []
            out.reserveCapacity(x.count)
            for e in x {
                guard let i = Int(exactly: e) else { throw wrongType(key, v, "integers that fit in Int") }
                out.append(i)
            }
            return out
        default: throw wrongType(key, v, "an integer array")
        }
    }

    /// The model's architecture (`general.architecture`), e.g. "llama" or "qwen2".
    public var architecture: String? { try? string("general.architecture") }
}

// MARK: - Bounds-checked cursor

private struct Reader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var position = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - position }

    func error(_ message: String) -> ModelError {
        ModelError(.corrupt, "\(path): \(message)")
    }

    /// Rejects `count` items of at least `each` bytes when they cannot fit in what is left of the file.
    func requireRoom(count: UInt64, each: Int, what: String) throws {
        let (need, o) = count.multipliedReportingOverflow(by: UInt64(each))
        guard !o, need <= UInt64(remaining) else {
            throw error("\(what) cannot fit in the \(remaining) bytes left at offset \(position); corrupt or truncated")
        }
    }

    mutating func bytes(_ n: Int, _ what: String = "header") throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else {
            throw error("truncated: \(what) needs \(n) bytes at offset \(position) but the file has \(bytes.count)")
        }
        defer { position += n }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)])
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        T(littleEndian: try bytes(MemoryLayout<T>.size, what).loadUnaligned(as: T.self))
    }

    mutating func u32(_ what: String) throws -> UInt32 { try load(UInt32.self, what) }
    mutating func u64(_ what: String) throws -> UInt64 { try load(UInt64.self, what) }

    mutating func string(_ what: String) throws -> String {
        let n = try u64("length of \(what)")
        guard n <= UInt64(remaining) else {
            throw error("\(what) claims \(n) bytes at offset \(position) but only \(remaining) remain; corrupt or truncated")
        }
        let raw = try bytes(Int(n), what)
        return String(decoding: raw, as: UTF8.self)
    }

    static func elementSize(_ type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: 1
        case 2, 3: 2
        case 4, 5, 6: 4
        case 10, 11, 12: 8
        default: nil
        }
    }

    mutating func value(type: UInt32, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try load(UInt8.self, key))
        case 1: return .int8(try load(Int8.self, key))
        case 2: return .uint16(try load(UInt16.self, key))
        case 3: return .int16(try load(Int16.self, key))
        case 4: return .uint32(try load(UInt32.self, key))
        case 5: return .int32(try load(Int32.self, key))
        case 6: return .float32(Float(bitPattern: try load(UInt32.self, key)))
        case 7:
            let b = try load(UInt8.self, key)
            guard b <= 1 else { throw error("metadata '\(key)' has bool byte \(b) (0 or 1 expected)") }
            return .bool(b == 1)
        case 8: return .string(try string("value of '\(key)'"))
        case 9: return .array(try array(key: key, depth: depth))
        case 10: return .uint64(try load(UInt64.self, key))
        case 11: return .int64(try load(Int64.self, key))
        case 12: return .float64(Double(bitPattern: try load(UInt64.self, key)))
        default:
            throw error("metadata '\(key)' has invalid value type \(type) at offset \(position - 4)")
        }
    }

    mutating func array(key: String, depth: Int) throws -> GGUFArray {
        guard depth < GGUFFile.maxArrayDepth else {
            throw error("metadata '\(key)' nests arrays deeper than \(GGUFFile.maxArrayDepth)")
        }
        let elementType = try u32("array type of '\(key)'")
        let count64 = try u64("array count of '\(key)'")
        // Smallest possible encoding of one element, to bound the count before allocating.
        let minSize: Int
        switch elementType {
        case 8: minSize = 8
        case 9: minSize = 12
        default:
            guard let s = Self.elementSize(elementType) else {
                throw error("metadata '\(key)' is an array of invalid value type \(elementType)")
            }
            minSize = s
        }
        try requireRoom(count: count64, each: minSize, what: "array '\(key)' of \(count64) elements")
        let count = Int(count64)

        func fixed<T: FixedWidthInteger>(_: T.Type) throws -> [T] {
            let raw = try bytes(count * MemoryLayout<T>.size, "array '\(key)'")
            return (0..<count).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
        }
        switch elementType {
        case 0: return .uint8(try fixed(UInt8.self))
        case 1: return .int8(try fixed(Int8.self))
        case 2: return .uint16(try fixed(UInt16.self))
        case 3: return .int16(try fixed(Int16.self))
        case 4: return .uint32(try fixed(UInt32.self))
        case 5: return .int32(try fixed(Int32.self))
        case 6: return .float32(try fixed(UInt32.self).map { Float(bitPattern: $0) })
        case 7:
            let raw = try fixed(UInt8.self)
            guard raw.allSatisfy({ $0 <= 1 }) else { throw error("bool array '\(key)' holds a byte other than 0 or 1") }
            return .bool(raw.map { $0 == 1 })
        case 10: return .uint64(try fixed(UInt64.self))
        case 11: return .int64(try fixed(Int64.self))
        case 12: return .float64(try fixed(UInt64.self).map { Double(bitPattern: $0) })
        case 8:
            var out: [String] = []
            out.reserveCapacity(count)
            for i in 0..<count { out.append(try string("element \(i) of '\(key)'")) }
            return .string(out)
        default: // 9: nested
            var out: [GGUFArray] = []
            out.reserveCapacity(count)
            for _ in 0..<count { out.append(try array(key: key, depth: depth + 1)) }
            return .array(out)
        }
    }
}
