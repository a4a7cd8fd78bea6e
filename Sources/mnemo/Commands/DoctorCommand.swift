import ArgumentParser
import Foundation
import MnemoModels
import MnemoTensor

/// What this machine offers Mnemo: the CPU, the kernels chosen for it, and the installed models.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Show the CPU, the kernels chosen for it and the installed models.",
        discussion: """
        OpenBLAS picks its kernels by CPU model; on a model it does not know it falls back to slow SSE3
        ones. Mnemo checks that choice at start-up against the instruction sets the CPU offers and raises
        it where it fell short (after checking one sgemm). OPENBLAS_CORETYPE, if set, is left as it is, unless \
        MNEMO_BLAS_CORE=auto asks for Mnemo's rule anyway; MNEMO_BLAS_CORE=openblas keeps OpenBLAS's own choice, \
        MNEMO_BLAS_CORE=NAME forces a core type.

        Examples:
          mnemo doctor
          mnemo doctor --json
          mnemo --version --json        # the same report with the version
        """
    )

    @OptionGroup var output: OutputOptions

    func run() throws {
        let report = Hardware.report
        let models = ModelLocator.installedModels()
        if output.json {
            try Terminal.printJSON(VersionReport(version: Mnemo.configuration.version, hardware: report, models: models))
            return
        }
        print("mnemo \(Mnemo.configuration.version)")
        print("cpu:       \(report.cpu.model) (\(report.cpu.cores) cores)")
        print("features:  \(report.cpu.features.joined(separator: " "))")
        let origin = switch report.kernels.blasChosenBy {
        case "mnemo": "raised by mnemo from \(report.kernels.blasDetected), "
            + (ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil ? "OPENBLAS_CORETYPE's, under MNEMO_BLAS_CORE=auto" : "OpenBLAS's own guess")
        case "setting": "named by MNEMO_BLAS_CORE"
        case "environment": "from OPENBLAS_CORETYPE"
        default: "OpenBLAS's own choice"
        }
        print("blas:      OpenBLAS \(report.kernels.blas) kernels (\(origin))")
        print("quantized: \(report.kernels.quantized) dot products")
        print("prompts:   \(report.kernels.prompts == "vnni-8bit" ? "8-bit matrix products (VNNI)" : "weights to floats for sgemm")")
        print("float:     \(report.kernels.float) kernels")
        print("models:    \(models.isEmpty ? "none installed in \(ModelLocator.modelsDirectory) (run `make setup`)" : models.joined(separator: ", "))")
    }
}

/// `mnemo --version --json` and `mnemo doctor --json`.
struct VersionReport: Encodable {
    var version: String
    var hardware: Hardware.Report
    var models: [String]

    enum CodingKeys: String, CodingKey { case version, cpu, kernels, models }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(hardware.cpu, forKey: .cpu)
        try c.encode(hardware.kernels, forKey: .kernels)
        try c.encode(models, forKey: .models)
    }
}
