import MnemoErrors

/// An error loading or running a model, naming the file, tensor, value or limit at fault: Mnemo's one
/// error type, raised here.
public typealias ModelError = MnemoError
