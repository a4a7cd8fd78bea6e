import Dispatch

/// Splits independent work over the configured number of threads.
public enum Parallel {
    /// Threads used by `forEach` (process-wide; the CLI sets it with BLAS's).
    nonisolated(unsafe) public static var threads = 1

    /// Runs `body(range)` over `0..<count` split into contiguous chunks, one chunk per thread.
    public static func forEach(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = min(threads, max(1, count / max(1, minChunk)))
        guard workers > 1 else { body(0..<count); return }
        // Each chunk touches disjoint memory; the caller's closure is not Sendable only because it
        // captures raw pointers, so it is handed to the workers unchecked.
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = count * w / workers, hi = count * (w + 1) / workers
                if lo < hi { shared.value(lo..<hi) }
            }
        }
    }
}

struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
