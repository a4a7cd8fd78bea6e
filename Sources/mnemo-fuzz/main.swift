import CFuzzDriver
import Foundation

// mnemo-fuzz: coverage-guided fuzzing of Mnemo's parsers (libFuzzer), and the replay of kept inputs.
// `Tests/Scripts/fuzz.sh` builds it with coverage, AddressSanitizer and libFuzzer and runs each target;
// a plain build (`swift build`) can only replay, which is what `make test` does with Tests/Fuzz/.

let usage = """
    usage: mnemo-fuzz list
           mnemo-fuzz replay TARGET PATH...      run every input file (directories recursively); exit 0 if none crashes
           mnemo-fuzz run TARGET [LIBFUZZER-FLAG | CORPUS-DIR]...   (needs the build of Tests/Scripts/fuzz.sh)

    examples:
      mnemo-fuzz replay gguf Tests/Fuzz/gguf
      Tests/Scripts/fuzz.sh 600            # every target for 10 minutes, then the table of executions and crashes
    """

func fail(_ message: String, status: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data("mnemo-fuzz: \(message)\n".utf8))
    exit(status)
}

func target(named name: String) -> FuzzTarget {
    guard let target = fuzzTargets.first(where: { $0.name == name }) else {
        fail("no target '\(name)'; the targets are \(fuzzTargets.map(\.name).joined(separator: ", "))")
    }
    return target
}

/// The files under `paths`, sorted, hidden ones skipped.
func inputFiles(_ paths: [String]) -> [String] {
    var files: [String] = []
    for path in paths {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { fail("\(path): no such file or directory") }
        guard isDirectory.boolValue else { files.append(path); continue }
        let entries = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
        for entry in entries.sorted() where !entry.split(separator: "/").contains(where: { $0.hasPrefix(".") }) {
            let full = (path as NSString).appendingPathComponent(entry)
            var sub: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &sub), !sub.boolValue { files.append(full) }
        }
    }
    return files
}

nonisolated(unsafe) var selected: FuzzTarget?

var arguments = Array(CommandLine.arguments.dropFirst())
// libFuzzer's merge (and -fork) starts this binary again with its own flags only: the target travels
// in the environment.
if let inherited = ProcessInfo.processInfo.environment["MNEMO_FUZZ_TARGET"], arguments.first?.hasPrefix("-") ?? true {
    arguments = ["run", inherited] + arguments
}
switch arguments.first {
case "list":
    for t in fuzzTargets { print("\(t.name)\t\(t.maxLength)\t\(t.summary)") }
case "replay":
    guard arguments.count >= 3 else { fail("replay needs a target and at least one input path\n\(usage)") }
    let t = target(named: arguments[1])
    let files = inputFiles(Array(arguments.dropFirst(2)))
    for file in files {
        // Named first, so the input that crashes the process is the last line on stderr.
        FileHandle.standardError.write(Data("\(t.name): \(file)\n".utf8))
        guard let data = FileManager.default.contents(atPath: file) else { fail("\(file): cannot read") }
        data.withUnsafeBytes { t.run($0) }
    }
    print("\(t.name): \(files.count) inputs, no crash")
case "run":
    guard arguments.count >= 2 else { fail("run needs a target\n\(usage)") }
    guard mnemo_fuzz_has_libfuzzer() != 0 else {
        fail("this build has no libFuzzer; build and run through Tests/Scripts/fuzz.sh")
    }
    selected = target(named: arguments[1])
    setenv("MNEMO_FUZZ_TARGET", arguments[1], 1)
    // libFuzzer reads argv[0] and its flags; the target's name is ours.
    let driverArguments = [CommandLine.arguments[0], "-max_len=\(selected!.maxLength)"] + arguments.dropFirst(2)
    var cArguments: [UnsafeMutablePointer<CChar>?] = driverArguments.map { strdup($0) } + [nil]
    var argc = Int32(driverArguments.count)
    let status = cArguments.withUnsafeMutableBufferPointer { buffer -> Int32 in
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
        return mnemo_fuzz_run_driver(&argc, &argv) { data, size in
            selected?.run(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }
    }
    exit(status)
case "-h", "--help", "help":
    print(usage)
default:
    fail(usage)
}
