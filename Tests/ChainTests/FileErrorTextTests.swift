import Foundation
import Testing
@testable import Chain

@Suite struct FileErrorTextTests {
    @Test func reason_isTheSystemsReasonForAFileManagerError() {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("file-error-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect {
            try FileManager.default.createDirectory(atPath: file + "/below", withIntermediateDirectories: true)
        } throws: { error in
            FileErrorText.reason(error) == "Not a directory"
        }
    }

    @Test func reason_ofAnyOtherError_isItsDescription() {
        struct Other: Error, CustomStringConvertible { var description: String { "other" } }
        #expect(FileErrorText.reason(Other()) == "other")
    }
}
