import Chain
import FuzzSupport
@testable import Membership
@testable import P2P

/// The registry's request bodies: the input is POSTed to `/register`, `/heartbeat`, `/scale` and
/// `/consensus-failure` of a fresh RegistryService (no provider, so nothing is started or
/// stopped), with the cluster credential and, when the body names a valid `nodeId`, signed by
/// one node key as a node signs its calls, so the fuzzer gets past authentication to the
/// body's fields. Properties: every answer is a 2xx with a JSON object body or a typed client error
/// (4xx with a code and a message): never a 5xx, never a trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    Logger.level = .error  // the service logs each event at info
    var settings = RegistrySettings()
    settings.clusterToken = token
    let service = RegistryService(settings: settings, provider: NoProvider())
    let body = inputBytes(data, size)
    for (sequence, path) in ["/register", "/heartbeat", "/scale", "/consensus-failure"].enumerated() {
        check(service, path, body, sequence: UInt64(sequence + 1))
    }
    return 0
}

private let token = "fuzz-cluster-credential-0123456789"  // 16...1024 printable bytes
private let nodeKey = KeyPair(seed: Array(repeating: 7, count: 32))

private func check(_ service: RegistryService, _ path: String, _ body: [UInt8], sequence: UInt64) {
    var headers = HTTPHeaders([("Host", "127.0.0.1"), ("Content-Type", "application/json"),
                               ("Content-Length", String(body.count)), ("Authorization", "Bearer \(token)")])
    if let kind = SignedRegistryCall.Kind(path: path), let id = (try? JSON.parse(body))?["nodeId"]?.stringValue,
       NodeIDGrammar.isValid(id) {
        let call = SignedRegistryCall(kind: kind, nodeId: id, nodeKey: nodeKey.publicKey, sequence: sequence,
                                      timestampMs: RegistryService.unixMs(), body: body)
        for (name, value) in call.headers(signedWith: nodeKey) { headers.add(name, value) }
    }
    let head = HTTPRequestHead(method: "POST", target: path, version: .http1_1, headers: headers, keepAlive: true,
                               framing: body.isEmpty ? .none : .contentLength(body.count), expectsContinue: false)
    let request = HTTPRequest(head: head, body: body, remoteAddress: nil)
    do {
        let response = try service.answer(request)
        require((200..<300).contains(response.status), "\(path) answered \(response.status)")
        let value = try? JSON.parse(response.body)
        require(value?.objectValue != nil, "\(path) answered a body that is not a JSON object")
    } catch let error as RegistryAPIError {
        require((400..<500).contains(error.status), "\(path) refused with \(error.status): \(error.message)")
        require(!error.code.isEmpty && !error.message.isEmpty, "\(path) refused without a code or message")
    } catch {
        require(false, "\(path) threw \(type(of: error)), which the registry answers as 500: \(error)")
    }
}
