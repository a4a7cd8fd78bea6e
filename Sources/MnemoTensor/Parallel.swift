import CKernels

/// Splits independent work over the configured number of threads.
public enum Parallel {
    /// Threads used by `forEach` (process-wide; the CLI sets it with BLAS's).
    nonisolated(unsafe) public static var threads = 1

    /// Runs `body(range)` over `0..<count` split into contiguous chunks of at least `minChunk`.
    ///
    /// The threads come from CKernels' spinning pool (pool.c): a decoder step runs ~150 short regions,
    /// and waking threads through Dispatch for each cost more than the work itself on small models.
    /// A few chunks per thread let whichever threads are running take the work of one that is not.
    public static func forEach(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(threads * 4, max(1, count / max(1, minChunk)))
        guard threads > 1, chunks > 1 else { body(0..<count); return }
        // Chunks touch disjoint memory; the closure reaches the pool's threads through a pointer that
        // stays valid because mk_parallel_for returns only when every chunk is done.
        withoutActuallyEscaping(body) { body in
            var task = Task(count: count, body: body)
            withUnsafeMutablePointer(to: &task) { pointer in
                _ = mk_parallel_for(Int32(threads), Int32(chunks), { context, chunk, chunks in
                    guard let task = context?.assumingMemoryBound(to: Task.self).pointee else { return }
                    let lo = task.count * Int(chunk) / Int(chunks), hi = task.count * Int(chunk + 1) / Int(chunks)
                    if lo < hi { task.body(lo..<hi) }
                }, pointer)
            }
        }
    }

    private struct Task {
        let count: Int
        let body: (Range<Int>) -> Void
    }
}
