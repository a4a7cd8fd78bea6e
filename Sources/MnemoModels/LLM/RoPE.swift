import Foundation

/// Rotary position embedding, shared by the inference decoder and the training decoder.
struct RoPE: Sendable {
    let config: DecoderConfig
    /// base^(-2i/ropeDim), i < ropeDim/2.
    let inverseFrequencies: [Double]

    init(_ config: DecoderConfig) {
        self.config = config
        inverseFrequencies = (0..<config.ropeDim / 2).map { i in pow(config.ropeBase, -2 * Double(i) / Double(config.ropeDim)) }
    }

    /// Writes cos and sin of position · frequency for each position, one row of ropeDim/2 each.
    func fillTables(positions: some Sequence<Int>, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let half = config.ropeDim / 2
        for (row, p) in positions.enumerated() {
            for j in 0..<half {
                let angle = Double(p) * inverseFrequencies[j]
                cos[row * half + j] = Float(Foundation.cos(angle))
                sin[row * half + j] = Float(Foundation.sin(angle))
            }
        }
    }

    /// Rotates the first `ropeDim` dimensions of every head of `rows` rows in place, row r by table row r.
    /// `inverse` rotates back: the backward of a rotation is its transpose.
    func rotate(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, inverse: Bool = false) {
        let hd = config.headDim, half = config.ropeDim / 2
        let stride = heads * hd
        let sign: Float = inverse ? -1 : 1
        for r in 0..<rows {
            let cr = cos + r * half, sr = sin + r * half
            for head in 0..<heads {
                let v = x + r * stride + head * hd
                switch config.ropeStyle {
                case .adjacentPairs:
                    for j in 0..<half {
                        let a = v[2 * j], b = v[2 * j + 1], s = sign * sr[j]
                        v[2 * j] = a * cr[j] - b * s
                        v[2 * j + 1] = a * s + b * cr[j]
                    }
                case .halves:
                    for j in 0..<half {
                        let a = v[j], b = v[j + half], s = sign * sr[j]
                        v[j] = a * cr[j] - b * s
                        v[j + half] = a * s + b * cr[j]
                    }
                }
            }
        }
    }
}
