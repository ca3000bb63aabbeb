import Foundation
import Testing

/// The shipped binary links FoundationEssentials only: any file of Sources/ that imports
/// Foundation itself (or its ICU-backed siblings) may call API that links all of Foundation and
/// its ICU data, 44 MB of the image (docs/DESIGN-NOTES.md, "No Foundation proper in the binary").
/// With only FoundationEssentials imported, the compiler refuses that API.
@Test func noSourceFileImportsFoundationProper() throws {
    let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()  // Tests/ChainTests
        .deletingLastPathComponent().deletingLastPathComponent()  // repository root
        .appendingPathComponent("Sources")
    let forbidden: Set<String> = ["Foundation", "FoundationInternationalization", "FoundationNetworking", "FoundationXML", "_FoundationICU"]
    let files = try #require(FileManager.default.enumerator(atPath: sources.path)).compactMap { $0 as? String }
        .filter { $0.hasSuffix(".swift") }
    #expect(files.count > 100)
    var offenders: [String] = []
    for file in files {
        let text = try String(contentsOfFile: sources.appendingPathComponent(file).path, encoding: .utf8)
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            guard let i = words.firstIndex(of: "import"), i + 1 < words.count,
                  words[..<i].allSatisfy({ $0.hasPrefix("@") || ["public", "internal", "private", "package"].contains($0) }) else { continue }
            // `import Foundation`, `import struct Foundation.Date`, `@preconcurrency import Foundation`.
            let kinds: Set<String> = ["struct", "class", "enum", "protocol", "func", "var", "let", "typealias"]
            let path = kinds.contains(words[i + 1]) && i + 2 < words.count ? words[i + 2] : words[i + 1]
            let module = path.split(separator: ".").first.map(String.init) ?? ""
            if forbidden.contains(module) { offenders.append("\(file): \(line)") }
        }
    }
    #expect(offenders.isEmpty, "\(offenders)")
}
