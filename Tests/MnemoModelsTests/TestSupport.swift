import Foundation
import Testing
import Synchronization
@testable import MnemoModels

/// The installed encoder, loaded once for all tests that need the real model.
let installedEncoderDirectory = (ModelLocator.modelsDirectory as NSString).appendingPathComponent(ModelLocator.defaultEncoder)

let realEncoder: Result<SentenceEncoder, Error> = Result { try SentenceEncoder(directory: installedEncoderDirectory) }

/// A fresh temporary directory. Tests remove theirs; whatever is left (a suite's shared store, a test
/// that failed half-way) is removed when the test process exits.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    createdDirectories.withLock { list in
        if list.isEmpty {
            atexit { createdDirectories.withLock { for url in $0 { try? FileManager.default.removeItem(at: url) } } }
        }
        list.append(url)
    }
    return url
}

private let createdDirectories = Mutex<[URL]>([])

/// Writes a safetensors file from (name, dtype, shape, raw bytes), for loader tests.
func writeSafeTensors(_ tensors: [(String, String, [Int], Data)], to url: URL, headerOverride: String? = nil) throws {
    var header: [String: Any] = ["__metadata__": ["format": "pt"]]
    var data = Data()
    for (name, dtype, shape, bytes) in tensors {
        header[name] = ["dtype": dtype, "shape": shape, "data_offsets": [data.count, data.count + bytes.count]]
        data.append(bytes)
    }
    let json = try headerOverride.map { Data($0.utf8) } ?? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    var file = Data()
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
    file.append(json)
    file.append(data)
    try file.write(to: url)
}

func floats(_ values: [Float]) -> Data {
    values.withUnsafeBufferPointer { Data(buffer: $0) }
}

func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x * x); nb += Double(y * y) }
    return dot / (na.squareRoot() * nb.squareRoot())
}

extension Tag {
    /// Reads the installed models (`make setup` puts them in $MNEMO_MODELS).
    @Tag static var realModel: Self
}

extension Trait where Self == ConditionTrait {
    /// For suites tagged `realModel`: `make check` (MNEMO_CHECK=1) leaves them out, as the toolchain's
    /// `swift test` cannot skip by tag; `make test` runs every one.
    static var needsModels: Self {
        .enabled(if: ProcessInfo.processInfo.environment["MNEMO_CHECK"] != "1", "make check runs only tests that need no model file")
    }
}
