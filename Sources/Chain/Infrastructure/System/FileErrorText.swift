import FoundationEssentials
import Glibc

/// Why a file-system call failed, as an operator reads it after the path ("Permission denied").
/// Foundation's `localizedDescription` would say much the same in a sentence, but any use of it
/// links all of Foundation and its ICU data into the binary (about 44 MB).
public enum FileErrorText {
    /// The system's reason for a `FileManager` (or `Data.write`) error; any other error as it
    /// describes itself.
    public static func reason(_ error: any Error) -> String {
        guard let cocoa = error as? CocoaError else { return "\(error)" }
        if let posix = cocoa.underlying as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        return "file error \(cocoa.code.rawValue)" + (cocoa.filePath.map { " at \($0)" } ?? "")
    }
}
