// The block-format kernels (quants.c): each dot product equals the float dot product of the
// dequantised weights and the dequantised activations, in every kernel set this CPU can run
// (portable, AVX2, AVX-512 VNNI).

import CKernels
import Foundation
import Testing

/// Deterministic pseudo-random bytes and floats.
private struct LCG {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 11
    }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    mutating func unit() -> Float { Float(next() % 2_000_001) / 1_000_000 - 1 }
}

/// Random blocks of `type`: random quant bits, with every scale field set to a finite half float.
private func randomBlocks(type: Int32, values n: Int, rng: inout LCG) -> [UInt8] {
    let size = mk_row_size(type, n)
    var bytes = (0..<size).map { _ in rng.byte() }
    func half(at offset: Int, _ value: Float) {
        let h = mk_fp32_to_fp16(value)
        bytes[offset] = UInt8(h & 0xff)
        bytes[offset + 1] = UInt8(h >> 8)
    }
    func scale() -> Float { Float(rng.next() % 1000 + 1) / 20000 }
    switch Int(type) {
    case MK_Q4_0, MK_Q5_0, MK_Q8_0:
        let block = size / (n / 32)
        for b in 0..<n / 32 { half(at: b * block, scale()) }
    case MK_Q4_1:
        for b in 0..<n / 32 { half(at: b * 20, scale()); half(at: b * 20 + 2, -scale()) }
    case MK_Q4_K:
        for b in 0..<n / 256 { half(at: b * 144, scale()); half(at: b * 144 + 2, scale()) }
    case MK_Q6_K:
        for b in 0..<n / 256 { half(at: b * 210 + 208, scale()) }
    case MK_F16:
        for i in 0..<n { half(at: 2 * i, rng.unit()) }
    default:
        break
    }
    return bytes
}

private func referenceDot(type: Int32, weights: [UInt8], activations xq: [UInt8], n: Int) -> (value: Double, magnitude: Double) {
    var w = [Float](repeating: 0, count: n), x = [Float](repeating: 0, count: n)
    #expect(mk_dequantize(type, weights, &w, n) == 0)
    #expect(mk_dequantize(mk_activation_type(type), xq, &x, n) == 0)
    var s = 0.0, m = 0.0
    for i in 0..<n { s += Double(w[i]) * Double(x[i]); m += abs(Double(w[i]) * Double(x[i])) }
    return (s, m)
}

/// The kernel sets this host can run, best first.
private let kernelSets: [Int32] = (0...Int32(MK_QUANTS_AVX512VNNI)).reversed().filter { level in
    defer { mk_force_quant_kernels(-1) }
    return mk_force_quant_kernels(level) == 0
}

/// Serialized: the tests switch the process-wide kernel choice.
@Suite(.serialized) struct QuantKernelTests {
    static let types: [Int32] = [MK_Q4_0, MK_Q4_1, MK_Q5_0, MK_Q8_0, MK_Q4_K, MK_Q6_K, MK_F16, MK_F32].map { Int32($0) }

    @Test func theBestKernelsTheCPUSupportsAreChosen() {
        let f = mk_cpu_features()
        let vnni = UInt32(MK_CPU_AVX512F | MK_CPU_AVX512BW | MK_CPU_AVX512DQ | MK_CPU_AVX512VL | MK_CPU_AVX512VNNI)
        let avx2 = UInt32(MK_CPU_AVX2 | MK_CPU_FMA | MK_CPU_F16C)
        let want = f & vnni == vnni ? MK_QUANTS_AVX512VNNI : f & avx2 == avx2 ? MK_QUANTS_AVX2 : MK_QUANTS_GENERIC
        #expect(mk_quant_kernels() == Int32(want))
        #expect(kernelSets.first == Int32(want))
        #expect(kernelSets.last == Int32(MK_QUANTS_GENERIC))
        // A set the CPU lacks cannot be forced.
        if want < MK_QUANTS_AVX512VNNI { #expect(mk_force_quant_kernels(Int32(MK_QUANTS_AVX512VNNI)) == -1) }
    }

    @Test(arguments: types)
    func dotProductEqualsTheDequantisedDotProduct(type: Int32) {
        var rng = LCG(state: UInt64(type) * 7919 + 1)
        // 15 blocks of 32 (an odd count: the two-block AVX-512 loops have a tail) or 2 of 256.
        let n = type == Int32(MK_Q4_K) || type == Int32(MK_Q6_K) ? 512 : 480
        for level in kernelSets {
            mk_force_quant_kernels(level)
            defer { mk_force_quant_kernels(-1) }
            for _ in 0..<20 {
                let w: [UInt8] = type == Int32(MK_F32)
                    ? (0..<n).flatMap { _ in withUnsafeBytes(of: rng.unit()) { Array($0) } }
                    : randomBlocks(type: type, values: n, rng: &rng)
                let x = (0..<n).map { _ in rng.unit() * 3 }
                var xq = [UInt8](repeating: 0, count: mk_row_size(mk_activation_type(type), n))
                #expect(mk_quantize_activations(type, x, &xq, n) == 0)
                let got = Double(mk_vec_dot(type, w, xq, n))
                let (want, magnitude) = referenceDot(type: type, weights: w, activations: xq, n: n)
                // Q8_1 keeps d·Σq as a half float, so Q4_1's min term carries that rounding.
                let tolerance = (type == Int32(MK_Q4_1) ? 2e-3 : 1e-5) * magnitude + 1e-6
                #expect(abs(got - want) <= tolerance, "type \(type) kernels \(level): \(got) vs \(want)")
            }
        }
    }

    /// The AVX-512 kernels return the AVX2 kernels' floats bit for bit (same integer sums, scales
    /// applied in the same order): on these models a last-bit change in one product moves logits by
    /// up to ~0.8, so the faster set must not change what the model says. Skipped where the CPU
    /// lacks AVX-512 VNNI.
    @Test(arguments: types)
    func avx512KernelsReturnTheAVX2Floats(type: Int32) {
        guard kernelSets.contains(Int32(MK_QUANTS_AVX512VNNI)) else { return }
        defer { mk_force_quant_kernels(-1) }
        var rng = LCG(state: UInt64(type) * 104_729 + 3)
        let blockValues = type == Int32(MK_Q4_K) || type == Int32(MK_Q6_K) ? 256 : 32
        for blocks in [1, 2, 3, 18, 48, 49] {
            let n = blocks * blockValues
            let w: [UInt8] = type == Int32(MK_F32)
                ? (0..<n).flatMap { _ in withUnsafeBytes(of: rng.unit()) { Array($0) } }
                : randomBlocks(type: type, values: n, rng: &rng)
            // Activations with a few large outliers, as hidden states have.
            let x = (0..<n).map { i in rng.unit() * (i % 97 == 0 ? 60 : 2) }
            var xq = [UInt8](repeating: 0, count: mk_row_size(mk_activation_type(type), n))
            #expect(mk_quantize_activations(type, x, &xq, n) == 0)
            mk_force_quant_kernels(Int32(MK_QUANTS_AVX2))
            let avx2 = mk_vec_dot(type, w, xq, n)
            mk_force_quant_kernels(Int32(MK_QUANTS_AVX512VNNI))
            let avx512 = mk_vec_dot(type, w, xq, n)
            #expect(avx512.bitPattern == avx2.bitPattern, "type \(type), \(blocks) blocks: \(avx512) vs \(avx2)")
        }
    }

    /// A matrix product over several positions (the batched kernels: each weight block decoded once for
    /// up to four positions) returns, for every row and position, the single-position dot product's
    /// float bit for bit, in every kernel set: speculative decoding's check must see the logits one
    /// position at a time would give.
    @Test(arguments: types)
    func severalPositionsGiveTheSinglePositionFloats(type: Int32) {
        var rng = LCG(state: UInt64(type) * 15_485_863 + 11)
        let n = type == Int32(MK_Q4_K) || type == Int32(MK_Q6_K) ? 768 : 224
        let rows = 21  // a full tile of 16 and a partial one
        let wrow = mk_row_size(type, n), xrow = mk_row_size(mk_activation_type(type), n)
        let w: [UInt8] = (0..<rows).flatMap { _ in
            type == Int32(MK_F32) ? (0..<n).flatMap { _ in withUnsafeBytes(of: rng.unit()) { Array($0) } }
                : randomBlocks(type: type, values: n, rng: &rng)
        }
        for level in kernelSets {
            mk_force_quant_kernels(level)
            defer { mk_force_quant_kernels(-1) }
            for positions in [1, 2, 3, 4, 5, 6, 9, 13] {
                var xq = [UInt8](repeating: 0, count: positions * xrow)
                for t in 0..<positions {
                    let x = (0..<n).map { i in rng.unit() * (i % 61 == 0 ? 40 : 2) }
                    xq.withUnsafeMutableBytes { #expect(mk_quantize_activations(type, x, $0.baseAddress! + t * xrow, n) == 0) }
                }
                var out = [Float](repeating: .nan, count: positions * rows)
                w.withUnsafeBytes { wp in xq.withUnsafeBytes { xp in
                    mk_matmul(type, wp.baseAddress, n, 0, rows, xp.baseAddress, positions, &out, rows)
                    for t in 0..<positions {
                        for r in 0..<rows {
                            let one = mk_vec_dot(type, wp.baseAddress! + r * wrow, xp.baseAddress! + t * xrow, n)
                            #expect(out[t * rows + r].bitPattern == one.bitPattern,
                                    "type \(type) kernels \(level), \(positions) positions, row \(r) position \(t): \(out[t * rows + r]) vs \(one)")
                        }
                    }
                } }
            }
        }
    }

    /// Prompt batches in 8 bits (`mk_gemm`, AVX-512 VNNI): every row and position is the float dot
    /// product of the dequantised weights and activations up to float rounding, over
    /// partial row tiles, odd row counts, position tiles, a row range not at 0 and, for the 32-value
    /// formats, a row that ends inside a 256-value layout block. Where the CPU lacks VNNI the path is
    /// refused and callers keep sgemm.
    @Test(arguments: [MK_Q4_0, MK_Q4_1, MK_Q5_0, MK_Q8_0, MK_Q4_K, MK_Q6_K, MK_F16].map { Int32($0) })
    func eightBitBatchesGiveTheDotProducts(type: Int32) throws {
        let vnni = mk_quant_kernels() >= Int32(MK_QUANTS_AVX512VNNI)
        let kQuant = type == Int32(MK_Q4_K) || type == Int32(MK_Q6_K)
        let n = kQuant ? 768 : 864
        #expect((mk_gemm_supported(type, n) != 0) == (vnni && type != Int32(MK_F16)))
        // Forcing another dot-product set (as these tests do while other suites run models) leaves the
        // batch path as it was: a caller that chose it must not see mk_gemm refuse.
        let supported = mk_gemm_supported(type, n)
        if mk_force_quant_kernels(Int32(MK_QUANTS_GENERIC)) == 0 {
            #expect(mk_gemm_supported(type, n) == supported)
            mk_force_quant_kernels(-1)
        }
        guard type != Int32(MK_F16) else { return }
        var rng = LCG(state: UInt64(type) * 7_919 + 3)
        let rows = 37, r0 = 3  // rows 3..<37: two tiles of 16 and an odd 2
        let wrow = mk_row_size(type, n), xrow = mk_row_size(mk_activation_type(type), n)
        let w: [UInt8] = (0..<rows).flatMap { _ in randomBlocks(type: type, values: n, rng: &rng) }
        for positions in [1, 3, 4, 7, 33, 70] {
            let x = (0..<positions * n).map { i in rng.unit() * (i % 61 == 0 ? 40 : 2) }
            let prepared = UnsafeMutableRawPointer.allocate(byteCount: max(mk_gemm_activation_size(n, positions), 64), alignment: 64)
            defer { prepared.deallocate() }
            mk_gemm_prepare(type, x, n, positions, prepared)
            var out = [Float](repeating: .nan, count: positions * rows)
            let status = w.withUnsafeBytes { mk_gemm(type, $0.baseAddress, n, r0, rows, prepared, positions, &out, rows) }
            guard mk_gemm_supported(type, n) != 0 else {
                #expect(status == -1)
                continue
            }
            #expect(status == 0)
            var xq = [UInt8](repeating: 0, count: xrow)
            for t in 0..<positions {
                xq.withUnsafeMutableBytes { _ = mk_quantize_activations(type, Array(x[t * n..<(t + 1) * n]), $0.baseAddress!, n) }
                for r in 0..<rows {
                    let got = out[t * rows + r]
                    if r < r0 { #expect(got.isNaN, "row \(r) is outside the range and must not be written"); continue }
                    // The float dot product of the dequantised weights and activations (Q4_1's own dot
                    // product is further off: its Q8_1 activation sums are stored as half floats).
                    let (want, magnitude) = referenceDot(type: type, weights: Array(w[r * wrow..<(r + 1) * wrow]), activations: xq, n: n)
                    #expect(abs(Double(got) - want) <= 1e-6 * magnitude + 1e-6,
                            "type \(type), \(positions) positions, row \(r) position \(t): \(got) vs \(want)")
                }
            }
        }
    }

    /// Every format's scales (and F32/F16 values) are checked for NaN and infinity; the index named is the
    /// first value of the broken block.
    @Test(arguments: types)
    func nonFiniteScalesAreFound(type: Int32) {
        var rng = LCG(state: UInt64(type) * 31 + 5)
        let blockValues = type == Int32(MK_Q4_K) || type == Int32(MK_Q6_K) ? 256 : 32
        let n = blockValues * 8
        var w: [UInt8] = type == Int32(MK_F32)
            ? (0..<n).flatMap { _ in withUnsafeBytes(of: rng.unit()) { Array($0) } }
            : randomBlocks(type: type, values: n, rng: &rng)
        #expect(mk_first_nonfinite(type, w, n) == -1)
        // Block 5's scale (its value 5·blockValues for F32/F16) set to a NaN half / float.
        let blockBytes = mk_row_size(type, blockValues)
        switch Int(type) {
        case MK_F32: w.replaceSubrange((5 * blockValues * 4)..<(5 * blockValues * 4 + 4), with: [0, 0, 0xC0, 0x7F])
        case MK_F16: w.replaceSubrange((5 * blockValues * 2)..<(5 * blockValues * 2 + 2), with: [0x00, 0x7C])
        case MK_Q6_K: w.replaceSubrange((5 * blockBytes + 208)..<(5 * blockBytes + 210), with: [0x01, 0x7E])
        case MK_Q4_1, MK_Q4_K: w.replaceSubrange((5 * blockBytes + 2)..<(5 * blockBytes + 4), with: [0x00, 0xFC])  // the min
        default: w.replaceSubrange((5 * blockBytes)..<(5 * blockBytes + 2), with: [0xFF, 0xFF])
        }
        #expect(mk_first_nonfinite(type, w, n) == Int64(5 * blockValues), "type \(type)")
    }

    @Test func activationQuantisationIsCloseToTheFloats() {
        var rng = LCG(state: 42)
        let n = 1024
        let x = (0..<n).map { _ in rng.unit() }
        for type in [MK_Q8_0, MK_Q4_1, MK_Q4_K].map({ Int32($0) }) {
            var xq = [UInt8](repeating: 0, count: mk_row_size(mk_activation_type(type), n))
            mk_quantize_activations(type, x, &xq, n)
            var back = [Float](repeating: 0, count: n)
            mk_dequantize(mk_activation_type(type), xq, &back, n)
            // 8-bit blocks: error at most half a step (a step is max|x| / 127 of the block, here ≤ 1/127),
            // plus the half-float rounding of the scale (relative 2⁻¹¹) for Q8_0 and Q8_1.
            let worst = zip(x, back).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1.0 / 127 / 2 + 1.0 / 2048, "activation type of \(type): worst error \(worst)")
        }
    }

    @Test func halfFloatConversionRoundTrips() {
        for bits in stride(from: 0, through: 0xffff, by: 1) {
            let h = UInt16(bits)
            let exponent = (h >> 10) & 0x1f
            if exponent == 0x1f { continue }  // infinities and NaNs
            #expect(mk_fp32_to_fp16(mk_fp16_to_fp32(h)) == h || (h == 0x8000 && mk_fp32_to_fp16(mk_fp16_to_fp32(h)) == 0x8000))
        }
        #expect(mk_fp16_to_fp32(0x3c00) == 1)
        #expect(mk_fp16_to_fp32(0xc000) == -2)
        #expect(mk_fp32_to_fp16(65504) == 0x7bff)
        #expect(mk_fp32_to_fp16(1e6) == 0x7c00)
    }

    @Test func unknownTypesAreRefused() {
        var out = [Float](repeating: 0, count: 32)
        let src = [UInt8](repeating: 0, count: 64)
        #expect(mk_dequantize(99, src, &out, 32) == -1)
        #expect(mk_activation_type(99) == -1)
        #expect(mk_row_size(99, 32) == 0)
        #expect(mk_vec_dot(99, src, src, 32).isNaN)
    }
}
