import Foundation
import MnemoTensor

/// The xRAG projector: Linear → GELU → Linear, from a sentence vector (the encoder's 384 dimensions)
/// into one decoder's input-embedding space, where the result is read as one "soft token".
///
/// Its parameters are one flat buffer (`w1 [hidden×in]`, `b1`, `w2 [out×hidden]`, `b2`) so that the
/// optimiser and checkpoints treat them as one vector. The file is safetensors with the manifest in
/// `__metadata__`: a projector only makes sense for the encoder and the decoder it was trained with.
public final class Projector: @unchecked Sendable {
    public struct Manifest: Codable, Equatable, Sendable {
        public var encoder: String
        public var encoderSHA256: String
        public var model: String
        public var modelSHA256: String
        public var inputDim: Int
        public var hiddenDim: Int
        public var outputDim: Int
        /// How it was trained (command, data, steps): for people, not checked.
        public var training: String

        public init(encoder: String, encoderSHA256: String, model: String, modelSHA256: String,
                    inputDim: Int, hiddenDim: Int, outputDim: Int, training: String = "") {
            self.encoder = encoder; self.encoderSHA256 = encoderSHA256
            self.model = model; self.modelSHA256 = modelSHA256
            self.inputDim = inputDim; self.hiddenDim = hiddenDim; self.outputDim = outputDim
            self.training = training
        }
    }

    public var manifest: Manifest
    public let parameters: FloatBuffer

    var inputDim: Int { manifest.inputDim }
    var hiddenDim: Int { manifest.hiddenDim }
    var outputDim: Int { manifest.outputDim }
    var w1: UnsafeMutablePointer<Float> { parameters.pointer }
    var b1: UnsafeMutablePointer<Float> { w1 + hiddenDim * inputDim }
    var w2: UnsafeMutablePointer<Float> { b1 + hiddenDim }
    var b2: UnsafeMutablePointer<Float> { w2 + outputDim * hiddenDim }

    static func parameterCount(_ m: Manifest) -> Int { m.hiddenDim * m.inputDim + m.hiddenDim + m.outputDim * m.hiddenDim + m.outputDim }

    /// A fresh projector: uniform ±1/√fan-in in the first layer; the second scaled so that outputs
    /// start with a root-mean-square near `outputRMS` (the decoder's typical embedding entry).
    public init(manifest: Manifest, seed: UInt64, outputRMS: Float) {
        self.manifest = manifest
        parameters = FloatBuffer(count: Self.parameterCount(manifest))
        var rng = SeededRandom(seed: seed)
        let a1 = 1 / Float(manifest.inputDim).squareRoot()
        for i in 0..<manifest.hiddenDim * manifest.inputDim { parameters[i] = a1 * (2 * Float(rng.nextUnit()) - 1) }
        // GELU of a unit-variance-ish hidden unit has RMS ≈ 0.6; uniform ±a has RMS a/√3.
        let a2 = outputRMS * Float(3).squareRoot() / (0.6 * Float(manifest.hiddenDim).squareRoot())
        let w2 = parameters.pointer + manifest.hiddenDim * manifest.inputDim + manifest.hiddenDim
        for i in 0..<manifest.outputDim * manifest.hiddenDim { w2[i] = a2 * (2 * Float(rng.nextUnit()) - 1) }
    }

    init(manifest: Manifest, parameters: FloatBuffer) {
        self.manifest = manifest
        self.parameters = parameters
    }

    /// Reads a projector; when `expect` is given, its encoder and model sha256 must match.
    public convenience init(path: String, expect: (encoderSHA256: String, modelSHA256: String)? = nil) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw ModelError(.fileNotFound, "\(path): no projector file") }
        let file = try SafeTensorsFile(path: path)
        guard let json = file.metadata["mnemo.projector"],
              let manifest = try? JSONDecoder().decode(Manifest.self, from: Data(json.utf8)) else {
            throw ModelError(.corrupt, "\(path): not a Mnemo projector (no mnemo.projector manifest in the metadata)")
        }
        guard manifest.inputDim > 0, manifest.hiddenDim > 0, manifest.outputDim > 0, manifest.hiddenDim < 1 << 16, manifest.outputDim < 1 << 16 else {
            throw ModelError(.corrupt, "\(path): the manifest's dimensions are implausible")
        }
        if let expect {
            guard manifest.encoderSHA256 == expect.encoderSHA256 else {
                throw ModelError(.badConfig, "\(path) was trained for encoder \(manifest.encoder) (sha256 \(manifest.encoderSHA256.prefix(12))…), not the encoder in use (sha256 \(expect.encoderSHA256.prefix(12))…)")
            }
            guard manifest.modelSHA256 == expect.modelSHA256 else {
                throw ModelError(.badConfig, "\(path) was trained for \(manifest.model) (sha256 \(manifest.modelSHA256.prefix(12))…), not the model in use (sha256 \(expect.modelSHA256.prefix(12))…); train one with `mnemo train-projector --model …`")
            }
        }
        let values = try file.float32("projector", shape: [Self.parameterCount(manifest)])
        file.ignore(["adam.m", "adam.v"])  // a training checkpoint is a projector too
        try file.finish()
        guard values.buffer.allSatisfy({ $0.isFinite }) else { throw ModelError(.corrupt, "\(path): the projector holds NaN or infinity") }
        self.init(manifest: manifest, parameters: values)
    }

    public func save(to path: String, extra: [(name: String, values: FloatBuffer)] = [], metadata: [String: String] = [:]) throws {
        let json = String(decoding: try JSONEncoder().encode(manifest), as: UTF8.self)
        var meta = metadata
        meta["mnemo.projector"] = json
        var tensors = [(name: "projector", shape: [parameters.count], values: UnsafeBufferPointer(parameters.buffer))]
        for e in extra { tensors.append((e.name, [e.values.count], UnsafeBufferPointer(e.values.buffer))) }
        try SafeTensorsFile.write(tensors, metadata: meta, to: path)
    }

    /// What the forward pass keeps for the backward.
    public struct Activations {
        let rows: Int
        let input: FloatBuffer, hidden: FloatBuffer, activated: FloatBuffer
        public let output: FloatBuffer
    }

    /// Projects `vectors` (each `inputDim` long) to soft-token inputs.
    public func project(_ vectors: [[Float]]) throws -> [[Float]] {
        let a = try forward(vectors)
        return (0..<a.rows).map { r in Array(UnsafeBufferPointer(start: a.output.pointer + r * outputDim, count: outputDim)) }
    }

    public func forward(_ vectors: [[Float]]) throws -> Activations {
        let n = vectors.count
        let input = FloatBuffer(count: max(1, n * inputDim))
        for (r, v) in vectors.enumerated() {
            guard v.count == inputDim else { throw ModelError(.badInput, "projector: a vector has \(v.count) values, expected \(inputDim)") }
            v.withUnsafeBufferPointer { (input.pointer + r * inputDim).update(from: $0.baseAddress!, count: inputDim) }
        }
        let hidden = FloatBuffer(count: max(1, n * hiddenDim)), activated = FloatBuffer(count: max(1, n * hiddenDim))
        let output = FloatBuffer(count: max(1, n * outputDim))
        guard n > 0 else { return Activations(rows: 0, input: input, hidden: hidden, activated: activated, output: output) }
        BLAS.linear(input.pointer, rows: n, inputs: inputDim, weight: w1, bias: b1, outputs: hiddenDim, into: hidden.pointer)
        activated.pointer.update(from: hidden.pointer, count: n * hiddenDim)
        Kernels.geluErf(activated.pointer, count: n * hiddenDim)
        BLAS.linear(activated.pointer, rows: n, inputs: hiddenDim, weight: w2, bias: b2, outputs: outputDim, into: output.pointer)
        return Activations(rows: n, input: input, hidden: hidden, activated: activated, output: output)
    }

    /// d(loss)/d(parameters), laid out like `parameters`, from d(loss)/d(output) `[rows × outputDim]`.
    public func backward(_ a: Activations, outputGradients dy: UnsafePointer<Float>) -> FloatBuffer {
        let n = a.rows
        let grads = FloatBuffer(count: parameters.count)
        guard n > 0 else { return grads }
        let gw1 = grads.pointer, gb1 = gw1 + hiddenDim * inputDim, gw2 = gb1 + hiddenDim, gb2 = gw2 + outputDim * hiddenDim
        // Second layer: dW2 = dYᵀ · G, db2 = Σ dY, dG = dY · W2.
        BLAS.gemmTN(m: outputDim, n: hiddenDim, k: n, a: dy, lda: outputDim, b: a.activated.pointer, ldb: hiddenDim, c: gw2, ldc: hiddenDim)
        for r in 0..<n { Kernels.add(dy + r * outputDim, into: gb2, count: outputDim) }
        let dh = FloatBuffer(count: n * hiddenDim)
        BLAS.gemmNN(m: n, n: hiddenDim, k: outputDim, a: dy, lda: outputDim, b: w2, ldb: hiddenDim, c: dh.pointer, ldc: hiddenDim)
        // GELU: d/dx x·Φ(x) = Φ(x) + x·φ(x).
        for i in 0..<n * hiddenDim {
            let x = a.hidden[i]
            let cdf = 0.5 * (1 + erf(x / Float(2).squareRoot()))
            let pdf = exp(-0.5 * x * x) / (2 * Float.pi).squareRoot()
            dh[i] *= cdf + x * pdf
        }
        // First layer: dW1 = dHᵀ · X, db1 = Σ dH.
        BLAS.gemmTN(m: hiddenDim, n: inputDim, k: n, a: dh.pointer, lda: hiddenDim, b: a.input.pointer, ldb: inputDim, c: gw1, ldc: inputDim)
        for r in 0..<n { Kernels.add(dh.pointer + r * hiddenDim, into: gb1, count: hiddenDim) }
        return grads
    }
}

/// Adam with decoupled weight decay over one flat parameter vector.
public struct AdamW: Sendable {
    public var learningRate: Float
    public var beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8
    public var weightDecay: Float
    public private(set) var step = 0
    public let m: FloatBuffer, v: FloatBuffer

    public init(count: Int, learningRate: Float, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        m = FloatBuffer(count: count)
        v = FloatBuffer(count: count)
    }

    /// Resumes from saved moments.
    public init(m: FloatBuffer, v: FloatBuffer, step: Int, learningRate: Float, weightDecay: Float = 0) {
        self.m = m; self.v = v; self.step = step
        self.learningRate = learningRate
        self.weightDecay = weightDecay
    }

    public mutating func update(_ parameters: FloatBuffer, gradients g: FloatBuffer, learningRate lr: Float? = nil) {
        step += 1
        let rate = lr ?? learningRate
        let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
        let p = parameters.pointer, mp = m.pointer, vp = v.pointer
        for i in 0..<parameters.count {
            mp[i] = beta1 * mp[i] + (1 - beta1) * g[i]
            vp[i] = beta2 * vp[i] + (1 - beta2) * g[i] * g[i]
            p[i] -= rate * ((mp[i] / c1) / ((vp[i] / c2).squareRoot() + epsilon) + weightDecay * p[i])
        }
    }
}

/// Softmax cross-entropy against a token or a teacher's distribution.
public enum TrainingLoss {
    public enum Target: Sendable {
        case token(Int32)
        /// A teacher's probabilities (its top entries, summing to 1): the loss is KL(teacher ‖ student).
        case sparse([(id: Int32, p: Float)])
    }

    /// Replaces each row of `logits [targets.count × vocab]` with `scale ·` d(loss)/d(logits) and
    /// returns the summed loss (natural log) of the rows.
    public static func apply(_ logits: UnsafeMutablePointer<Float>, vocab: Int, targets: [Target], scale: Float) -> Double {
        var total = 0.0
        for (r, target) in targets.enumerated() {
            let z = logits + r * vocab
            var mx = -Float.infinity
            for j in 0..<vocab { mx = max(mx, z[j]) }
            var sum = 0.0
            for j in 0..<vocab { sum += Double(exp(z[j] - mx)) }
            let logSum = Double(mx) + log(sum)
            switch target {
            case .token(let id):
                total += logSum - Double(z[Int(id)])
                for j in 0..<vocab { z[j] = scale * Float(exp(Double(z[j]) - logSum)) }
                z[Int(id)] -= scale
            case .sparse(let teacher):
                for (id, p) in teacher where p > 0 { total += Double(p) * (log(Double(p)) - (Double(z[Int(id)]) - logSum)) }
                for j in 0..<vocab { z[j] = scale * Float(exp(Double(z[j]) - logSum)) }
                for (id, p) in teacher { z[Int(id)] -= scale * p }
            }
        }
        return total
    }
}
