#!/usr/bin/env python3
"""An independent client for docs/PROTOCOL.md, in Python with PyNaCl and hashlib only.

Builds the development key from its public seed, checks the protocol doc's test vector 1, signs a
transfer to a fresh address exactly as the doc describes, POSTs it to `/submit-tx?wait=commit`,
expects 200 committed, then checks `/tx/<hash>` and `/balance/<to>`. Nothing here comes from the
Swift code: if this passes, the doc is enough to write a client.

usage: check-pynacl-client.py NODE_URL        (prints the committed tx hash on the last line)
"""
import hashlib
import json
import os
import struct
import sys
import urllib.error
import urllib.request

import nacl.signing

TIMEOUT_S = 40  # one request; ?wait=commit answers within [api] commit_wait_ms (30 s by default)


def address_of(pubkey: bytes) -> bytes:
    return hashlib.sha256(pubkey).digest()[:20]


def signed_bytes(chain_id: str, frm: bytes, to: bytes, amount: int, fee: int, nonce: int) -> bytes:
    cid = chain_id.encode()
    return (b"autochain-tx-v1" + struct.pack(">I", len(cid)) + cid + frm + to
            + struct.pack(">QQQ", amount, fee, nonce))


def sign_tx(key: nacl.signing.SigningKey, chain_id: str, to: bytes, amount: int, fee: int, nonce: int):
    pub = bytes(key.verify_key)
    frm = address_of(pub)
    msg = signed_bytes(chain_id, frm, to, amount, fee, nonce)
    sig = key.sign(msg).signature
    tx_hash = hashlib.sha256(msg + sig).digest()
    body = {"chainId": chain_id, "from": "0x" + frm.hex(), "to": "0x" + to.hex(), "amount": amount,
            "fee": fee, "nonce": nonce, "pubkey": pub.hex(), "signature": sig.hex()}
    return body, msg, sig, tx_hash


def check_vector_1() -> None:
    """docs/PROTOCOL.md, vector 1: the byte layout, signature and hash, before touching a node."""
    key = nacl.signing.SigningKey(bytes(range(1, 33)))
    to = address_of(bytes(nacl.signing.SigningKey(bytes(range(33, 65))).verify_key))
    body, msg, sig, tx_hash = sign_tx(key, "autochain-dev", to, 1000, 1, 0)
    expect(bytes(key.verify_key).hex() == "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664", "vector 1 public key")
    expect(body["from"] == "0x65b60673d6ed884bf01c2c222d82ada0740f29ac", "vector 1 address")
    expect(body["to"] == "0xc945cbf2a5602002141e2fb9d17054d6ca069951", "vector 1 recipient")
    expect(msg.hex() == "6175746f636861696e2d74782d76310000000d6175746f636861696e2d64657665b60673d6ed884bf01c2c"
           "222d82ada0740f29acc945cbf2a5602002141e2fb9d17054d6ca06995100000000000003e80000000000000001"
           "0000000000000000", "vector 1 signedBytes")
    expect(sig.hex() == "69eeda14ea9672b09bbdc5e0e45ffd189213009c46dae0a8e9698d2b72e3c7e80425789311aa7fa18cb429"
           "58107a706d4a99c3f3cba4ee82310d7370ed6a0709", "vector 1 signature")
    expect(tx_hash.hex() == "59adc4dc83ee2a5473f7e4c9fbec09472ebb70a2bc100d32cce2fd1ad547fc19", "vector 1 hash")


def expect(ok: bool, what: str) -> None:
    if not ok:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def http(method: str, url: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    node = sys.argv[1].rstrip("/")
    check_vector_1()

    dev = nacl.signing.SigningKey(hashlib.sha256(b"autochain development key").digest())
    dev_address = "0x" + address_of(bytes(dev.verify_key)).hex()
    expect(bytes(dev.verify_key).hex() == "b36ec00e20d71e369d4eaefef406d3637dd9af2219e23accc9f60dd28d02c1f9", "dev public key")
    expect(dev_address == "0x01df5e5600306eabcf9afef2d216a293324ef9f2", "dev address")

    status, head = http("GET", node + "/chain/head")
    expect(status == 200, f"GET /chain/head answers 200 (got {status})")
    chain_id = head["chainId"]
    status, sender = http("GET", f"{node}/balance/{dev_address}")
    expect(status == 200 and sender["balance"] > 0, f"dev key is funded ({sender})")

    to = address_of(bytes(nacl.signing.SigningKey(os.urandom(32)).verify_key))  # a fresh account
    amount, fee = 4242, 1
    body, _, _, tx_hash = sign_tx(dev, chain_id, to, amount, fee, sender["nonce"])
    status, answer = http("POST", node + "/submit-tx?wait=commit", body)
    expect(status == 200 and answer.get("status") == "committed", f"POST /submit-tx?wait=commit -> 200 committed ({status} {answer})")
    expect(answer["hash"] == "0x" + tx_hash.hex(), "node's tx hash equals SHA-256(signedBytes || signature)")

    status, found = http("GET", f"{node}/tx/0x{tx_hash.hex()}")
    expect(status == 200 and found["status"] == "committed" and found["height"] == answer["height"],
           f"GET /tx/<hash> -> committed at height {answer['height']}")
    status, bal = http("GET", f"{node}/balance/0x{to.hex()}")
    expect(status == 200 and bal["balance"] == amount and bal["nonce"] == 0, f"GET /balance/<to> -> {amount} ({bal})")
    status, after = http("GET", f"{node}/balance/{dev_address}")
    expect(after["balance"] == sender["balance"] - amount - fee and after["nonce"] == sender["nonce"] + 1,
           "sender paid amount + fee (the fee is burned) and its nonce went up by one")

    status, again = http("POST", node + "/submit-tx", body)
    expect(status == 409 and again["error"]["code"] in ("nonce_too_low", "already_known"),
           f"replaying the transfer is refused with 409 ({status} {again})")
    print("0x" + tx_hash.hex())


if __name__ == "__main__":
    main()
