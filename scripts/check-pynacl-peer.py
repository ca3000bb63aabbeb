#!/usr/bin/env python3
"""An independent implementation of the peer protocol's secure channel (docs/PROTOCOL.md, "Peer
protocol"), in Python with PyNaCl and hashlib only.

1. Recomputes every `channel.*` test vector in docs/PROTOCOL.md from the documented inputs
   (protocol version 3: the auth frame carries the signed incarnation). PRINT_VECTORS=1 prints them.
2. With NODE_URL, P2P_ADDR and CREDENTIAL: dials the node's peer port as a stranger with a fresh
   key, completes the handshake (preamble, sealed auth frame, `peers` both ways), sends a sealed
   `ping` and expects a sealed `pong`, then closes with the close frame. A stranger's key is not a
   member, so the node admits it as join-only: that is enough for ping/pong.

Nothing here comes from the Swift code: if this passes, the doc is enough to write a peer.

usage: check-pynacl-peer.py [NODE_URL P2P_ADDR CREDENTIAL]
"""
import hashlib
import json
import os
import re
import socket
import struct
import sys
import urllib.request

import nacl.bindings as b
import nacl.signing

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "PROTOCOL.md")
VERSION = 3
TAG = b"autochain-p2p-v%d" % VERSION
KIND_AUTH, KIND_MESSAGE, KIND_CLOSE = 1, 2, 3


def documented_vectors() -> dict:
    values, in_block = {}, False
    for line in open(DOC, encoding="utf-8").read().split("\n"):
        if line.startswith("```"):
            in_block = line == "```text"
            continue
        if in_block and " = " in line:
            name, value = line.split(" = ", 1)
            values[name] = value
    return values


def preamble(eph_pk: bytes) -> bytes:
    return b"ACHN" + struct.pack(">H", VERSION) + eph_pk


def transcript(chain_id: str, genesis: bytes, initiator_pk: bytes, responder_pk: bytes) -> bytes:
    cid = chain_id.encode()
    return hashlib.sha256(TAG + struct.pack(">HH", VERSION, len(cid)) + cid + genesis + initiator_pk + responder_pk).digest()


def direction_key(kx_key: bytes, credential: str) -> bytes:
    credential_key = hashlib.sha256(credential.encode()).digest()
    return hashlib.blake2b(kx_key, digest_size=32, key=credential_key).digest()


def signed_bytes(th: bytes, role: int, incarnation: int) -> bytes:
    return TAG + th + bytes([role]) + struct.pack(">Q", incarnation)


def auth_payload(node: nacl.signing.SigningKey, sig: bytes, genesis: bytes, height: int, incarnation: int, chain_id: str,
                 node_id: str, p2p: str, api: str) -> bytes:
    out = bytes(node.verify_key) + sig + genesis + struct.pack(">QQ", height, incarnation)
    for text in (chain_id, node_id, p2p, api):
        raw = text.encode()
        out += bytes([len(raw)]) + raw
    return out


def parse_auth(p: bytes) -> dict:
    key, sig, genesis = p[:32], p[32:96], p[96:128]
    height, incarnation = struct.unpack(">QQ", p[128:144])
    rest, fields = p[144:], []
    for _ in range(4):
        n = rest[0]
        fields.append(rest[1:1 + n].decode())
        rest = rest[1 + n:]
    assert not rest, "bytes after the auth fields"
    return {"nodeKey": key, "signature": sig, "genesis": genesis, "height": height, "incarnation": incarnation, "chainId": fields[0],
            "nodeId": fields[1], "p2pAddr": fields[2], "apiAddr": fields[3]}


class Sealer:
    """One direction: XChaCha20-Poly1305 with counter nonces (u64 little-endian ‖ 16 zero bytes)."""

    def __init__(self, key: bytes):
        self.key, self.counter = key, 0

    def nonce(self) -> bytes:
        n = struct.pack("<Q", self.counter) + bytes(16)
        self.counter += 1
        return n

    def seal(self, kind: int, payload: bytes) -> bytes:
        header = struct.pack(">I", 1 + len(payload) + 16)
        return header + b.crypto_aead_xchacha20poly1305_ietf_encrypt(bytes([kind]) + payload, header, self.nonce(), self.key)

    def open(self, header: bytes, body: bytes) -> tuple:
        plain = b.crypto_aead_xchacha20poly1305_ietf_decrypt(body, header, self.nonce(), self.key)
        return plain[0], plain[1:]


def check_vectors() -> None:
    v = documented_vectors()
    chain_id, genesis, credential = v["channel.chainId"], bytes.fromhex(v["channel.genesisHash"]), v["channel.credential"]
    ipk, isk = b.crypto_kx_seed_keypair(bytes.fromhex(v["channel.initiator.ephemeralSeed"]))
    rpk, rsk = b.crypto_kx_seed_keypair(bytes.fromhex(v["channel.responder.ephemeralSeed"]))
    n1 = nacl.signing.SigningKey(bytes.fromhex(v["channel.initiator.nodeSeed"]))
    n2 = nacl.signing.SigningKey(bytes.fromhex(v["channel.responder.nodeSeed"]))
    rx, tx = b.crypto_kx_client_session_keys(ipk, isk, rpk)
    srx, stx = b.crypto_kx_server_session_keys(rpk, rsk, ipk)
    assert (srx, stx) == (tx, rx), "crypto_kx: the server's keys mirror the client's"
    th = transcript(chain_id, genesis, ipk, rpk)
    k_i2r, k_r2i = direction_key(tx, credential), direction_key(rx, credential)
    inc1, inc2 = int(v["channel.initiator.incarnation"]), int(v["channel.responder.incarnation"])
    sig1 = n1.sign(signed_bytes(th, 1, inc1)).signature
    sig2 = n2.sign(signed_bytes(th, 2, inc2)).signature
    payload1 = auth_payload(n1, sig1, genesis, 5, inc1, chain_id, "n1", "127.0.0.1:7001", "127.0.0.1:8001")
    payload2 = auth_payload(n2, sig2, genesis, 5, inc2, chain_id, "n2", "127.0.0.1:7002", "127.0.0.1:8002")
    i_out, r_out = Sealer(k_i2r), Sealer(k_r2i)
    got = {
        "channel.initiator.preamble": preamble(ipk),
        "channel.responder.preamble": preamble(rpk),
        "channel.transcript": th,
        "channel.kx.initiatorToResponder": tx,
        "channel.kx.responderToInitiator": rx,
        "channel.credentialKey": hashlib.sha256(credential.encode()).digest(),
        "channel.key.initiatorToResponder": k_i2r,
        "channel.key.responderToInitiator": k_r2i,
        "channel.initiator.signature": sig1,
        "channel.initiator.authPayload": payload1,
        "channel.initiator.authFrame": i_out.seal(KIND_AUTH, payload1),
        "channel.responder.authFrame": r_out.seal(KIND_AUTH, payload2),
        "channel.initiator.frame1": i_out.seal(KIND_MESSAGE, b'{"type":"ping","height":5}'),
        "channel.initiator.closeFrame": i_out.seal(KIND_CLOSE, b""),
    }
    if os.environ.get("PRINT_VECTORS") == "1":
        for name, value in got.items():
            print(f"{name} = {value.hex()}")
    bad = [name for name, value in got.items() if v.get(name) != value.hex()]
    for name in bad:
        print(f"MISMATCH {name}\n  doc:  {v.get(name)}\n  ours: {got[name].hex()}")
    if bad:
        sys.exit(1)
    print(f"all {len(got)} channel vectors of docs/PROTOCOL.md reproduced")


class Conn:
    def __init__(self, sock: socket.socket):
        self.sock, self.buf = sock, b""

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the node closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self, opener: Sealer) -> tuple:
        header = self.read_exact(4)
        length = struct.unpack(">I", header)[0]
        assert 17 <= length <= 1200 + (16 << 20), f"frame length {length}"
        return opener.open(header, self.read_exact(length))

    def read_message(self, opener: Sealer) -> dict:
        kind, payload = self.read_frame(opener)
        assert kind == KIND_MESSAGE, f"expected a message frame, got kind {kind}"
        return json.loads(payload)


def handshake_with(node_url: str, p2p_addr: str, credential: str) -> None:
    status = json.load(urllib.request.urlopen(node_url + "/status", timeout=10))
    chain_id, genesis = status["chainId"], bytes.fromhex(status["genesisHash"].removeprefix("0x"))
    host, port = p2p_addr.rsplit(":", 1)
    node_key = nacl.signing.SigningKey.generate()
    eph_pk, eph_sk = b.crypto_kx_keypair()
    sock = socket.create_connection((host, int(port)), timeout=10)
    conn = Conn(sock)
    sock.sendall(preamble(eph_pk))
    theirs = conn.read_exact(38)
    assert theirs[:6] == b"ACHN" + struct.pack(">H", VERSION), f"preamble {theirs[:6]!r}"
    server_pk = theirs[6:]
    rx, tx = b.crypto_kx_client_session_keys(eph_pk, eph_sk, server_pk)
    out, inn = Sealer(direction_key(tx, credential)), Sealer(direction_key(rx, credential))
    th = transcript(chain_id, genesis, eph_pk, server_pk)
    sig = node_key.sign(signed_bytes(th, 1, 0)).signature
    sock.sendall(out.seal(KIND_AUTH, auth_payload(node_key, sig, genesis, 0, 0, chain_id, "pynacl-peer", "127.0.0.1:9", "127.0.0.1:1")))
    kind, payload = conn.read_frame(inn)
    assert kind == KIND_AUTH, f"expected the node's auth frame, got kind {kind}"
    auth = parse_auth(payload)
    nacl.signing.VerifyKey(auth["nodeKey"]).verify(signed_bytes(th, 2, auth["incarnation"]), auth["signature"])
    assert auth["chainId"] == chain_id and auth["genesis"] == genesis
    peers = conn.read_message(inn)
    assert peers["type"] == "peers", peers
    sock.sendall(out.seal(KIND_MESSAGE, b'{"type":"peers","peers":[]}'))
    sock.sendall(out.seal(KIND_MESSAGE, b'{"type":"ping","height":0}'))
    for _ in range(16):  # bounded: the node may send its own ping first
        message = conn.read_message(inn)
        if message["type"] == "pong":
            break
    else:
        raise AssertionError("no pong")
    sock.sendall(out.seal(KIND_CLOSE, b""))
    sock.close()
    print(f"handshake with {auth['nodeId']} (incarnation {auth['incarnation']}) at {p2p_addr}: authenticated, "
          f"ping answered with {message}")


if __name__ == "__main__":
    check_vectors()
    if len(sys.argv) == 4:
        handshake_with(sys.argv[1], sys.argv[2], sys.argv[3])
    elif len(sys.argv) != 1:
        sys.exit(__doc__)
