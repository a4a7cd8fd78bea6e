import CKernels
import Foundation

/// The CPU this process runs on and the kernels chosen for it, for `mnemo --version --json`,
/// `mnemo doctor` and the benchmarks' headers.
public enum Hardware {
    /// The CPU's name as the kernel reports it (`model name` in /proc/cpuinfo).
    public static let cpuModel: String = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in info.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return "unknown"
    }()

    /// Instruction sets usable here (the CPU has them and the OS saves their registers).
    public static var features: [String] {
        let f = mk_cpu_features()
        let names: [(Int, String)] = [
            (MK_CPU_SSE3, "sse3"), (MK_CPU_AVX, "avx"), (MK_CPU_AVX2, "avx2"), (MK_CPU_FMA, "fma"), (MK_CPU_F16C, "f16c"),
            (MK_CPU_AVX512F, "avx512f"), (MK_CPU_AVX512BW, "avx512bw"), (MK_CPU_AVX512DQ, "avx512dq"),
            (MK_CPU_AVX512VL, "avx512vl"), (MK_CPU_AVX512VNNI, "avx512vnni"), (MK_CPU_AVX512BF16, "avx512bf16"),
            (MK_CPU_AVXVNNI, "avxvnni"),
        ]
        return names.filter { f & UInt32($0.0) != 0 }.map(\.1)
    }

    /// OpenBLAS's kernels in use (sgemm for the encoder and prompt batches), what OpenBLAS picked by
    /// itself, and who decided: `openblas`, `mnemo` (raised at start-up to match the CPU), `setting`
    /// (MNEMO_BLAS_CORE), `environment` (OPENBLAS_CORETYPE).
    public static var blasCore: String { String(cString: mk_blas_core()) }
    public static var blasDetectedCore: String { String(cString: mk_blas_detected_core()) }
    public static var blasCoreOrigin: String { String(cString: mk_blas_core_origin()) }

    /// The block-quantised dot products in use (decoding).
    public static var quantKernels: String {
        switch Int(mk_quant_kernels()) {
        case MK_QUANTS_AVX512VNNI: "avx512-vnni"
        case MK_QUANTS_AVX2: "avx2"
        default: "generic"
        }
    }

    /// How prompt batches (32 positions and more) multiply block-quantised weights: `vnni-8bit` (the
    /// 8-bit matrix product, mk_gemm) or `sgemm` (weights expanded to floats for OpenBLAS).
    public static var promptKernels: String { mk_gemm_supported(Int32(MK_Q4_K), 256) != 0 ? "vnni-8bit" : "sgemm" }

    /// The float kernels (norms, activations, attention).
    public static var floatKernels: String { mk_has_avx2() != 0 ? "avx2+fma" : "generic" }

    /// Everything above as one JSON-ready value.
    public static var report: Report {
        Report(cpu: .init(model: cpuModel, cores: ProcessInfo.processInfo.activeProcessorCount, features: features),
               kernels: .init(blas: blasCore, blasDetected: blasDetectedCore, blasChosenBy: blasCoreOrigin,
                              quantized: quantKernels, prompts: promptKernels, float: floatKernels))
    }

    public struct Report: Codable, Sendable {
        public struct CPU: Codable, Sendable {
            public var model: String
            public var cores: Int
            public var features: [String]
        }
        public struct Kernels: Codable, Sendable {
            public var blas: String
            public var blasDetected: String
            public var blasChosenBy: String
            public var quantized: String
            public var prompts: String
            public var float: String
            enum CodingKeys: String, CodingKey {
                case blas, quantized, prompts, float
                case blasDetected = "blas_detected", blasChosenBy = "blas_chosen_by"
            }
        }
        public var cpu: CPU
        public var kernels: Kernels

        /// One line for benchmark headers and `doctor`.
        public var summary: String {
            let chosen = kernels.blasChosenBy == "mnemo" ? " (raised from \(kernels.blasDetected))" : kernels.blasChosenBy == "environment" ? " (OPENBLAS_CORETYPE)"
                : kernels.blasChosenBy == "setting" ? " (MNEMO_BLAS_CORE)" : ""
            return "\(cpu.model), \(cpu.cores) cores; BLAS \(kernels.blas)\(chosen), quantized \(kernels.quantized), prompts \(kernels.prompts), float \(kernels.float)"
        }
    }
}
