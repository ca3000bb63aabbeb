import Chain
import FuzzSupport

/// JSON.parse and the writer. Properties, for every document the parser accepts:
/// - the compact and the pretty serialisation each parse back to an equal value;
/// - serialising is stable: compact(parse(compact(v))) is byte for byte compact(v);
/// - the same bytes parse the same through every entry point (array, slice, buffer, String).
/// A rejected document gets an error whose offset lies within the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    let value: JSON
    do {
        value = try JSON.parse(bytes)
    } catch {
        require(error.offset >= 0 && error.offset <= bytes.count, "error offset \(error.offset) of \(bytes.count): \(error)")
        return 0
    }
    require((try? JSON.parse(bytes[...])) == value, "slice parse differs")
    require((try? JSON.parse(UnsafeRawBufferPointer(start: data, count: size))) == value, "buffer parse differs")
    if let text = String(validating: bytes, as: UTF8.self) {
        require((try? JSON.parse(text)) == value, "String parse differs")
    }
    let compact = value.serialized()
    let reparsed: JSON
    do { reparsed = try JSON.parse(compact) } catch {
        require(false, "compact form does not parse: \(error)\n\(String(decoding: compact, as: UTF8.self))")
        return 0
    }
    require(reparsed == value, "compact form parses to a different value")
    require(reparsed.serialized() == compact, "serialisation is not stable")
    require((try? JSON.parse(value.serializedPretty())) == value, "pretty form parses to a different value")
    return 0
}
