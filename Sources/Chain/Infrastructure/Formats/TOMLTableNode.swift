/// A table while the document is being read: mutable, shared by reference, frozen at the end.
final class TOMLTableNode {
    /// How a table came to exist; decides whether a later header or dotted key may define it.
    enum Origin { case root, implicit, header, dotted, inline }

    let path: [String]
    var line: Int
    var origin: Origin
    var order: [String] = []
    var entries: [String: TOMLEntry] = [:]

    init(path: [String], line: Int, origin: Origin) {
        self.path = path
        self.line = line
        self.origin = origin
    }

    func add(_ key: String, _ entry: TOMLEntry) {
        precondition(entries[key] == nil, "key added twice")
        order.append(key)
        entries[key] = entry
    }

    /// Marks this table and every table under it as closed to later additions.
    func seal() {
        origin = .inline
        for case .table(let child) in entries.values { child.seal() }
    }

    func freeze(file: String) -> TOMLTable {
        TOMLTable(file: file, path: path, line: line, entries: order.map { key in
            switch entries[key]! {
            case .value(let v): (key: key, value: v)
            case .table(let t): (key: key, value: TOMLValue(.table(t.freeze(file: file)), line: t.line))
            case .tableArray(let a):
                (key: key, value: TOMLValue(.array(a.elements.map { TOMLValue(.table($0.freeze(file: file)), line: $0.line) }),
                                            line: a.line))
            }
        })
    }
}

final class TOMLTableArrayNode {
    let line: Int
    var elements: [TOMLTableNode] = []
    init(line: Int) { self.line = line }
}

enum TOMLEntry {
    case value(TOMLValue)
    case table(TOMLTableNode)
    case tableArray(TOMLTableArrayNode)

    var line: Int {
        switch self {
        case .value(let v): v.line
        case .table(let t): t.line
        case .tableArray(let a): a.line
        }
    }
}
