import Foundation
import Testing
import Synchronization

/// Runs the built `mnemo` binary (it sits beside the test bundle in the build directory).
struct CLIResult {
    let status: Int32
    let stdout: String
    let stderr: String

    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
    }
}

let mnemoBinary: URL = {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    // Under `swift test` argv[0] is the .xctest bundle's executable, or the runner beside it.
    for _ in 0..<3 where !FileManager.default.fileExists(atPath: dir.appendingPathComponent("mnemo").path) {
        dir = dir.deletingLastPathComponent()
    }
    return dir.appendingPathComponent("mnemo")
}()

@discardableResult
func mnemo(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:],
           replacingEnvironment: Bool = false) throws -> CLIResult {
    let process = Process()
    process.executableURL = mnemoBinary
    process.arguments = arguments
    var env = replacingEnvironment ? [:] : ProcessInfo.processInfo.environment
    env.merge(environment) { $1 }
    process.environment = env
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(stdin) }
    try input.fileHandleForWriting.close()
    // Read both pipes before waiting, so a large output cannot block the child.
    let group = DispatchGroup()
    nonisolated(unsafe) var errData = Data()
    DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return CLIResult(status: process.terminationStatus,
                     stdout: String(decoding: outData, as: UTF8.self),
                     stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs a program to its end with no input, reading both outputs while it runs (so a large output
/// cannot block it); `directory` is its working directory.
func runToEnd(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
              directory: URL? = nil) throws -> CLIResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    if let directory { process.currentDirectoryURL = directory }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return CLIResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                     stderr: String(decoding: errData, as: UTF8.self))
}

/// A fresh temporary directory. Tests remove theirs; whatever is left (a suite's shared store, a test
/// that failed half-way) is removed when the test process exits.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-cli-\(UUID().uuidString)")
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

/// The repository's root directory (this file is Tests/CLITests/CLITestSupport.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

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
