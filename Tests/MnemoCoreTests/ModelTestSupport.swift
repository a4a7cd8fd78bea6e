import Foundation
import Testing

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
