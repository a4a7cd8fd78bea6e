import Foundation

/// The sha256 of a model file: read from the `<file>.sha256` stamp that setup writes after verifying
/// the file (when the stamp's size still matches), else computed.
public enum ModelIdentity {
    public static func sha256(ofFile path: String) throws -> String {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard let size = (attributes?[.size] as? NSNumber)?.intValue else { throw ModelError(.fileNotFound, "\(path): cannot read the model file") }
        if let stamp = try? String(contentsOfFile: path + ".sha256", encoding: .utf8) {
            let fields = stamp.split(separator: " ")
            if fields.count == 2, Int(fields[1].trimmingCharacters(in: .whitespacesAndNewlines)) == size, fields[0].count == 64 { return String(fields[0]) }
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw ModelError(.unreadable, "\(path): cannot read the model file") }
        return SHA256.hex(data)
    }

    public static func encoderSHA256(_ encoder: SentenceEncoder) throws -> String {
        try sha256(ofFile: (encoder.directory as NSString).appendingPathComponent("model.safetensors"))
    }
}
