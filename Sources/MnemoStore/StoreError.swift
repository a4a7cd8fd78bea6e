import MnemoErrors

/// An error opening, reading or writing a store, naming the store, file or value at fault: Mnemo's one
/// error type, raised here.
public typealias StoreError = MnemoError
