/// Media-type checks on request headers (RFC 9110 §8.3): the type and subtype compare without
/// regard to case, and parameters (`; charset=utf-8`) do not change the type.
public enum HTTPMediaType {
    /// True when `contentType` names `application/json`, with or without parameters.
    public static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let essence = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return HTTPHeaders.equalsIgnoringCase(String(essence.trimmingASCIISpaces()), "application/json")
    }
}
