import Foundation
import Testing
@testable import MnemoModels

@Suite struct SafeTensorsTests {
    @Test func readsTensorsAndReportsUnusedOnes() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("t.safetensors")
        try writeSafeTensors([("a", "F32", [2, 2], floats([1, 2, 3, 4])), ("b", "F32", [1], floats([5]))], to: url)
        let file = try SafeTensorsFile(path: url.path)
        let a = try file.float32("a", shape: [2, 2])
        #expect(a.array == [1, 2, 3, 4])
        #expect(throws: ModelError.self) { try file.finish() }  // "b" never read
        _ = try file.float32("b", shape: [1])
        try file.finish()
    }

    @Test func nonFiniteWeightsAreRefusedWithTheTensorsName() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (i, bad) in [Float.nan, .infinity, -.infinity].enumerated() {
            let url = dir.appendingPathComponent("t\(i).safetensors")
            try writeSafeTensors([("fine", "F32", [2], floats([1, 2])), ("w", "F32", [3], floats([1, bad, 3]))], to: url)
            let file = try SafeTensorsFile(path: url.path)
            #expect(try file.float32("fine", shape: [2]).array == [1, 2])
            let e = #expect(throws: ModelError.self) { try file.float32("w", shape: [3]) }
            #expect(e?.message.contains("'w' holds a value that is not a finite number") == true, "\(e?.message ?? "")")
            #expect(e?.message.contains("at value 1") == true, "\(e?.message ?? "")")
        }
    }

    @Test func wrongShapeAndDtypeAreNamed() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("t.safetensors")
        try writeSafeTensors([("w", "F32", [2, 2], floats([1, 2, 3, 4])), ("i", "I32", [1], Data(count: 4))], to: url)
        let file = try SafeTensorsFile(path: url.path)
        let shape = #expect(throws: ModelError.self) { try file.float32("w", shape: [4]) }
        #expect(shape?.message.contains("'w' has shape [2, 2], expected [4]") == true)
        let dtype = #expect(throws: ModelError.self) { try file.float32("i", shape: [1]) }
        #expect(dtype?.message.contains("'i' is I32, expected F32") == true)
        let missing = #expect(throws: ModelError.self) { try file.float32("nope", shape: [1]) }
        #expect(missing?.message.contains("'nope' is missing") == true)
    }

    @Test(arguments: [
        ("short", Data([1, 2, 3]), "too short"),
        ("huge header length", Data([0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0x7B]), "exceeds the file"),
        ("not json", { var d = Data(); withUnsafeBytes(of: UInt64(3).littleEndian) { d.append(contentsOf: $0) }; d.append(Data("abc".utf8)); return d }(), "not valid JSON"),
    ])
    func corruptHeadersAreRejected(name: String, bytes: Data, expected: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("bad.safetensors")
        try bytes.write(to: url)
        let error = #expect(throws: ModelError.self) { try SafeTensorsFile(path: url.path) }
        #expect(error?.message.contains(expected) == true, "\(name): \(error?.message ?? "")")
        #expect(error?.message.contains(url.path) == true)
    }

    @Test func offsetsOutsideTheDataAreRejected() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("t.safetensors")
        try writeSafeTensors([("w", "F32", [4], floats([1, 2, 3, 4]))], to: url,
                             headerOverride: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,64]}}"#)
        let error = #expect(throws: ModelError.self) { try SafeTensorsFile(path: url.path) }
        #expect(error?.message.contains("outside the data section") == true)

        try writeSafeTensors([("w", "F32", [4], floats([1, 2, 3, 4]))], to: url,
                             headerOverride: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#)
        let size = #expect(throws: ModelError.self) { try SafeTensorsFile(path: url.path) }
        #expect(size?.message.contains("needs 12") == true)
    }

    @Test func missingFileIsNamed() {
        let error = #expect(throws: ModelError.self) { try SafeTensorsFile(path: "/nonexistent/model.safetensors") }
        #expect(error?.code == .fileNotFound)
        #expect(error?.message.contains("/nonexistent/model.safetensors") == true)
    }
}
