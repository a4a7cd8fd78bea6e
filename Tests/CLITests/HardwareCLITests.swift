import Foundation
import Testing

/// The kernels chosen for the CPU at start-up, as `mnemo --version --json` reports them, and the same
/// answers from every BLAS core type this CPU can run.
@Suite(.tags(.realModel), .needsModels) struct HardwareCLITests {
    /// Without OPENBLAS_CORETYPE or MNEMO_BLAS_CORE: what a fresh shell gives.
    static let cleanEnvironment: [String: String] = {
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_CORETYPE"] = nil
        env["MNEMO_BLAS_CORE"] = nil
        return env
    }()

    static func report(_ extra: [String: String] = [:]) throws -> [String: Any] {
        let r = try mnemoClean(["--version", "--json"], extra)
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(r.json)
    }

    static func mnemoClean(_ arguments: [String], _ extra: [String: String]) throws -> CLIResult {
        try mnemo(arguments, environment: cleanEnvironment.merging(extra) { $1 }, replacingEnvironment: true)
    }

    @Test func versionJSONNamesTheCPUAndTheKernels() throws {
        let json = try Self.report()
        #expect(json["version"] as? String == "0.1.0")
        let cpu = try #require(json["cpu"] as? [String: Any])
        let features = try #require(cpu["features"] as? [String])
        let kernels = try #require(json["kernels"] as? [String: String])
        let blas = try #require(kernels["blas"])
        // The kernels in use match the widest instruction set the CPU offers.
        let avx512 = ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(features.contains)
        let avx2 = ["avx2", "fma"].allSatisfy(features.contains)
        if avx512 { #expect(["SkylakeX", "Cooperlake", "SapphireRapids"].contains(blas), "\(kernels)") }
        else if avx2 { #expect(["Haswell", "Zen", "Excavator"].contains(blas), "\(kernels)") }
        #expect(kernels["blas_chosen_by"] == (kernels["blas_detected"] == blas ? "openblas" : "mnemo"), "\(kernels)")
        let vnni = avx512 && features.contains("avx512vnni")
        #expect(kernels["quantized"] == (vnni ? "avx512-vnni" : avx2 ? "avx2" : "generic"))
        #expect(kernels["prompts"] == (vnni ? "vnni-8bit" : "sgemm"))
        // Plain --version stays the bare version for scripts.
        #expect(try Self.mnemoClean(["--version"], [:]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
    }

    @Test func theUsersChoiceOfKernelsIsKept() throws {
        let kernels = try #require(try Self.report(["OPENBLAS_CORETYPE": "Haswell"])["kernels"] as? [String: String])
        #expect(kernels["blas"] == "Haswell" && kernels["blas_chosen_by"] == "environment", "\(kernels)")
        // MNEMO_BLAS_CORE=auto applies Mnemo's rule over a shell-wide OPENBLAS_CORETYPE: the same core as a clean shell.
        let clean = try #require(try Self.report([:])["kernels"] as? [String: String])
        let auto = try #require(try Self.report(["OPENBLAS_CORETYPE": "Prescott", "MNEMO_BLAS_CORE": "auto"])["kernels"] as? [String: String])
        #expect(auto["blas"]?.lowercased() == clean["blas"]?.lowercased() && auto["blas_chosen_by"] == "mnemo", "\(auto) vs \(clean)")
        let named = try #require(try Self.report(["MNEMO_BLAS_CORE": "Prescott"])["kernels"] as? [String: String])
        #expect(named["blas"] == "Prescott" && named["blas_chosen_by"] == "setting", "\(named)")
        // A name OpenBLAS does not know leaves its own choice in place (and the sgemm check passed).
        let bogus = try #require(try Self.report(["MNEMO_BLAS_CORE": "NoSuchCore"])["kernels"] as? [String: String])
        #expect(bogus["blas"] == bogus["blas_detected"] && bogus["blas_chosen_by"] == "openblas", "\(bogus)")
    }

    /// The encoder's vectors (sgemm throughout) agree under every core type: the slow SSE3 ones OpenBLAS
    /// falls back to on a CPU it does not know, the AVX2 ones, and the default choice.
    @Test func encoderVectorsAgreeUnderEveryBLASCoreRealModel() throws {
        func vectors(_ extra: [String: String]) throws -> [[Double]] {
            let r = try Self.mnemoClean(["embed", "--json", "The boiler was serviced in March by Dunmore Heating.",
                                         "Who wrote the report, and when was it filed?"], extra)
            #expect(r.status == 0, "\(r.stderr)")
            return try #require(r.json?["embeddings"] as? [[Double]])
        }
        let reference = try vectors([:])
        for core in ["Prescott", "Haswell"] {
            let other = try vectors(["MNEMO_BLAS_CORE": core])
            for (a, b) in zip(reference, other) {
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 1
                #expect(worst < 1e-5, "\(core): worst difference \(worst)")
            }
        }
    }
}
