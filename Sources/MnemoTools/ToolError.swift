import MnemoErrors

/// An error from a tool, naming the input, position or limit at fault: Mnemo's one error type, raised here.
public typealias ToolError = MnemoError
