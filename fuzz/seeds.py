#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/: small hand-made valid and near-valid
inputs. Transactions and blocks are docs/PROTOCOL.md's test vectors (real signatures), rebuilt
with hashlib only. Run from the repository root; it rewrites only the seed-*.* files, so inputs
added by hand (regressions, crash reproducers) stay."""
import hashlib, json, os, struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

sha = lambda b: hashlib.sha256(b).digest()
h = bytes.fromhex

# docs/PROTOCOL.md vectors 1 and 2
pub = h("79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664")
frm = h("65b60673d6ed884bf01c2c222d82ada0740f29ac")
to = h("c945cbf2a5602002141e2fb9d17054d6ca069951")
sig = h("69eeda14ea9672b09bbdc5e0e45ffd189213009c46dae0a8e9698d2b72e3c7e80425789311aa7fa18cb42958107a706d4a99c3f3cba4ee82310d7370ed6a0709")
chain = b"autochain-dev"
signed = b"autochain-tx-v1" + struct.pack(">I", len(chain)) + chain + frm + to + struct.pack(">QQQ", 1000, 1, 0)
txhash = sha(signed + sig)
tx_bin = bytes([len(chain)]) + chain + frm + to + struct.pack(">QQQ", 1000, 1, 0) + pub + sig
tx_json = {"chainId": "autochain-dev", "from": "0x" + frm.hex(), "to": "0x" + to.hex(), "amount": 1000,
           "fee": 1, "nonce": 0, "pubkey": pub.hex(), "signature": sig.hex(), "hash": "0x" + txhash.hex()}
compact = lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False)

put("transaction", "binary.bin", tx_bin)
put("transaction", "binary-truncated.bin", tx_bin[:-5])
put("transaction", "json.json", compact(tx_json))
put("transaction", "json-no-hash.json", compact({k: v for k, v in tx_json.items() if k != "hash"}))
put("transaction", "json-bad-hash.json", compact(dict(tx_json, hash="0x" + "00" * 32)))
put("transaction", "json-big-amount.json", compact(dict(tx_json, amount=9007199254740992)))
put("transaction", "json-pretty.json", json.dumps(tx_json, indent=2))

def block(height, txroot, tx_count):
    fields = (struct.pack(">Q", height) + b"\x11" * 32 + txroot + b"\x22" * 32
              + struct.pack(">QQ", 1700000000000, 3) + pub + struct.pack(">I", tx_count))
    return fields, b"autochain-block-v1" + fields

leaf = sha(b"\x00" + txhash)  # Merkle root of one tx
fields, canonical = block(1, leaf, 1)
psig = h("71cab8ac03a92c59bb8eb07063638d0a69f2be22970265b75ef492936891f33e008ee44c72b3723d64459e327496e5ca87e5e17505b6677311643ceaaaa3b403")
blk_bin = b"\x02" + fields + psig + tx_bin + b"\x00"
header_json = lambda fields_hash, txroot, count: {
    "height": 1, "hash": "0x" + fields_hash.hex(), "prevHash": "0x" + "11" * 32, "txRoot": "0x" + txroot.hex(),
    "stateRoot": "0x" + "22" * 32, "timestamp": 1700000000000, "term": 3, "proposer": pub.hex(), "txCount": count}
blk_json = dict(header_json(sha(canonical), leaf, 1), proposerSignature=psig.hex(), txs=[tx_json])
put("block", "binary.bin", blk_bin)
put("block", "binary-trailing.bin", blk_bin + b"\x00")
put("block", "json.json", compact(blk_json))
put("block", "json-no-hash.json", compact({k: v for k, v in blk_json.items() if k != "hash"}))

empty_root = sha(b"")
mfields, mcanonical = block(2, empty_root, 0)
node_key = h("b36ec00e20d71e369d4eaefef406d3637dd9af2219e23accc9f60dd28d02c1f9")
member = bytes([1, 2]) + b"n4" + node_key  # addLearner n4
put("block", "membership.bin", b"\x02" + mfields + b"\x00" * 64 + b"\x01" + member)
put("block", "membership-remove.bin", b"\x02" + mfields + b"\x00" * 64 + b"\x01" + bytes([3, 2]) + b"n4" + b"\x00" * 32)
mjson = dict(header_json(sha(mcanonical), empty_root, 0), height=2, proposerSignature="00" * 64, txs=[],
             membership={"op": "addLearner", "node": "n4", "nodeKey": node_key.hex()})
del mjson["hash"]  # optional; the fuzzer finds the block decoding without it
put("block", "membership.json", compact(mjson))

# JSON: every kind of value, escapes, numbers at the edges
put("json", "object.json", '{"a":1,"b":[true,false,null],"c":{"d":"e"},"f":-0.5,"g":1e300}')
put("json", "escapes.json", r'["\"\\\/\b\f\n\r\t","\u00e9\ud83d\ude00","\u0000","plain é 😀"]')
put("json", "numbers.json", "[0,-0,9223372036854775807,-9223372036854775808,9223372036854775808,1.5e-7,2E+3,0.1]")
put("json", "nested.json", "[[[[[[{}]]]]],{\"x\":[{}]}]")
put("json", "whitespace.json", ' \n\t{ "k" : [ 1 , 2 ] }\r\n')
put("json", "string.json", '"just a string"')
put("json", "bad-trailing-comma.json", '{"a":1,}')
put("json", "bad-lone-surrogate.json", '"\\ud800"')
put("json", "bad-duplicate.json", '{"a":1,"a":2}')
put("json", "transaction.json", compact(tx_json))

# TOML: the shapes config.toml uses, and near misses
put("toml", "config.toml", """# a node
[node]
id = "n1"
data_dir = 'data/n1'

[api]
addr = "127.0.0.1:8080"   # comment
max_body_bytes = 1_048_576
timeout_s = 2.5

[consensus]
election_timeout_ms = [300, 600]
flags = { fast = true, level = -3 }

[[registry.urls]]
url = "http://127.0.0.1:9090"
[[registry.urls]]
url = "http://127.0.0.1:9091"
""")
put("toml", "strings.toml", 'a = "tab\\t\\u00e9\\U0001F600"\nb = \'\'\'\nraw \\ text\'\'\'\nc = """\nline \\\n   joined"""\n"quoted key" = 1\n')
put("toml", "numbers.toml", "a = 0x_ff\nb = 0xDEAD_beef\nc = 0o755\nd = 0b1010\ne = +1e-3\nf = -0.0\ng = 9_223_372_036_854_775_807\nh = 6.02E23\n")
put("toml", "dotted.toml", "a.b.c = 1\na.b.d = 2\n[x.y]\nz = true\n[x]\nw = false\n")
put("toml", "bad-redefined.toml", "[a]\nb = 1\n[a]\nc = 2\n")
put("toml", "bad-date.toml", "when = 1979-05-27T07:32:00Z\n")
put("toml", "bad-inline-newline.toml", "t = { a = 1,\n b = 2 }\n")
put("toml", "crlf.toml", "a = 1\r\n[b]\r\nc = 'x'\r\n")

# HTTP request heads (one or several pipelined)
crlf = lambda s: s.replace("\n", "\r\n")
put("http-request", "get.txt", crlf("GET /chain/head HTTP/1.1\nHost: 127.0.0.1:8080\nAccept: */*\n\n"))
put("http-request", "post.txt", crlf("POST /tx?wait=commit&x=%20a+b HTTP/1.1\nHost: h\nContent-Type: application/json\nContent-Length: 2\n\n{}"))
put("http-request", "chunked.txt", crlf("POST /tx HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\nExpect: 100-continue\n\n5\nhello\n0\n\n"))
put("http-request", "absolute.txt", crlf("GET http://example.com:8080/block/1?x=1#frag HTTP/1.1\nHost: example.com\n\n"))
put("http-request", "authority.txt", crlf("CONNECT 127.0.0.1:8080 HTTP/1.1\nHost: 127.0.0.1:8080\n\n"))
put("http-request", "asterisk.txt", crlf("OPTIONS * HTTP/1.1\nHost: h\n\n"))
put("http-request", "http10.txt", "GET / HTTP/1.0\nConnection: keep-alive\n\n")
put("http-request", "pipelined.txt", crlf("GET /a HTTP/1.1\nHost: h\n\nGET /b HTTP/1.1\nHost: h\nConnection: close\n\n"))
put("http-request", "leading-empty.txt", crlf("\n\nGET / HTTP/1.1\nHost: h\n\n"))
put("http-request", "bad-two-lengths.txt", crlf("POST / HTTP/1.1\nHost: h\nContent-Length: 1\nContent-Length: 2\n\n"))
put("http-request", "bad-te-and-cl.txt", crlf("POST / HTTP/1.1\nHost: h\nContent-Length: 1\nTransfer-Encoding: chunked\n\n"))
put("http-request", "bad-folding.txt", crlf("GET / HTTP/1.1\nHost: h\nX: a\n b\n\n"))
put("http-request", "bad-version.txt", crlf("GET / HTTP/2.0\nHost: h\n\n"))
put("http-request", "gzip-chunked.txt", crlf("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: gzip, chunked\n\n"))

# chunked bodies
put("chunked", "two-chunks.txt", crlf("5\nhello\n6; ext=1\n world\n0\n\n"))
put("chunked", "trailer.txt", crlf("3\nabc\n0\nX-Trailer: yes\n\n"))
put("chunked", "bare-lf.txt", "4\nwxyz\n0\n\n")
put("chunked", "uppercase-hex.txt", crlf("A\n0123456789\n0\n\n"))
put("chunked", "bad-size.txt", crlf("zz\nhello\n0\n\n"))
put("chunked", "too-large.txt", crlf("fffffffffffffff\nx\n"))
put("chunked", "missing-crlf.txt", crlf("3\nabcX0\n\n"))

# peer protocol lines (several per input; blank lines are skipped)
peer_lines = [
    {"type": "ping", "height": 7}, {"type": "pong", "height": 7},
    {"type": "peers", "peers": [{"nodeId": "n2", "p2pAddr": "127.0.0.1:7002", "apiAddr": "127.0.0.1:8002"}]},
    {"type": "bye", "reason": "done"},
    {"type": "raft", "from": "n1", "to": "n2", "term": 3, "kind": "append", "prevIndex": 4, "prevTerm": 2, "commit": 4,
     "entries": [{"index": 5, "term": 3, "data": "01ff", "conf": {"op": "addLearner", "node": "n4"}}]},
    {"type": "raft", "from": "n1", "to": "n2", "term": 3, "kind": "vote", "lastIndex": 9, "lastTerm": 2, "transfer": False},
    {"type": "raft", "from": "n2", "to": "n1", "term": 3, "kind": "appendResponse", "reject": True, "index": 4,
     "rejectHint": 3, "hintTerm": 1},
    {"type": "raft", "from": "n1", "to": "n2", "term": 3, "kind": "heartbeat", "commit": 4},
    {"type": "raft", "from": "n1", "to": "n2", "term": 3, "kind": "timeoutNow"},
    {"type": "getBlocks", "from": 1, "count": 16},
    {"type": "blocks", "blocks": [blk_bin.hex()]},
    {"type": "txs", "id": 1, "txs": [tx_bin.hex()]},
    {"type": "txsResult", "id": 1, "results": [{}, {"code": "nonce_too_low", "message": "used", "committed": True}]},
    {"type": "txsResult", "id": 2, "error": {"code": "not_leader", "message": "ask n2"}, "leaderHint": "n2"},
    {"type": "join", "nodeId": "n4", "nodeKey": pub.hex(), "p2pAddr": "127.0.0.1:7004", "apiAddr": "127.0.0.1:8004"},
    {"type": "joinResult", "nodeId": "n4", "accepted": False, "reason": "not the leader", "leaderHint": "n1"},
    {"type": "superseded", "nodeId": "n2", "nodeKey": pub.hex(), "incarnation": 1700000000001, "transcript": "33" * 32,
     "role": 1, "signature": sig.hex()},
]
for m in peer_lines:
    name = m["type"] + ("-" + m["kind"] if "kind" in m else "") + ("-error" if "error" in m else "")
    put("peer-message", name + ".jsonl", compact(m) + "\n")
put("peer-message", "session.jsonl", "".join(compact(m) + "\n" for m in peer_lines[:4]) + "\n")
put("peer-message", "partial.jsonl", compact(peer_lines[0]) + "\n" + compact(peer_lines[1])[:10])

# registry bodies (each input goes to /register, /heartbeat, /scale and /consensus-failure)
put("registry-body", "register.json", compact({
    "nodeId": "n1", "apiUrl": "http://127.0.0.1:8001", "p2pAddr": "127.0.0.1:7001", "height": 12, "commitIndex": 12,
    "term": 2, "role": "leader", "leader": "n1", "voters": ["n1", "n2", "n3"], "learners": [], "retired": ["n0"],
    "nodeKey": pub.hex(), "cpu": 0.25, "requestRate": 10.5, "mempool": 3, "submitLatencyMs": 1.5}))
put("registry-body", "follower.json", compact({"nodeId": "n2", "apiUrl": "http://127.0.0.1:8002", "leader": None, "role": "follower"}))
put("registry-body", "scale.json", '{"target_nodes":5}')
put("registry-body", "scale-bad.json", '{"target_nodes":"5"}')
put("registry-body", "consensus-failure.json", '{"nodeId":"n1","reason":"no quorum for 10 s"}')
put("registry-body", "bad-node-id.json", compact({"nodeId": "../etc", "apiUrl": "http://127.0.0.1:8001"}))
put("registry-body", "not-object.json", "[1,2,3]")
