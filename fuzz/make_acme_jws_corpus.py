#!/usr/bin/env python3
"""Writes the seed corpus of acme_jws_fuzzer (fuzz/corpus/acme_jws_fuzzer/): flattened JWS
bodies as ACME clients send them, one per algorithm (ES256, ES384, RS256, EdDSA) with a jwk, one
with a kid, a keyChange with a nested JWS, and an ES256 signature with a dropped leading zero.
Keys are generated on each run (python3-cryptography); the seeds need not be reproducible."""
import base64, json, os, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "acme_jws_fuzzer")
BASE = "https://ca.test/acme"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def int_bytes(i, n=None):
    n = n or (i.bit_length() + 7) // 8
    return i.to_bytes(n, "big")


def jwk_and_signer(kind):
    if kind in ("ES256", "ES384"):
        curve, size, h = (ec.SECP256R1(), 32, hashes.SHA256()) if kind == "ES256" else (ec.SECP384R1(), 48, hashes.SHA384())
        key = ec.generate_private_key(curve)
        nums = key.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256" if size == 32 else "P-384",
               "x": b64(int_bytes(nums.x, size)), "y": b64(int_bytes(nums.y, size))}
        def sign(data):
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(h)))
            return int_bytes(r, size) + int_bytes(s, size)
        return jwk, sign
    if kind == "RS256":
        key = rsa.generate_private_key(65537, 2048)
        nums = key.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": b64(int_bytes(nums.n)), "e": b64(int_bytes(nums.e))}
        return jwk, lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    key = ed25519.Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives import serialization
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}, key.sign


def jws(alg, sign, header, payload):
    header = dict(header, alg=alg)
    p = b64(json.dumps(header).encode())
    body = b64(payload.encode()) if payload else ""
    return {"protected": p, "payload": body, "signature": b64(sign((p + "." + body).encode()))}


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    for alg in ("ES256", "ES384", "RS256", "EdDSA"):
        jwk, sign = jwk_and_signer(alg)
        seeds["new_account_" + alg] = jws(alg, sign, {"nonce": "abc", "url": BASE + "/new-account", "jwk": jwk},
                                          json.dumps({"termsOfServiceAgreed": True}))
    jwk, sign = jwk_and_signer("ES256")
    seeds["post_as_get_kid"] = jws("ES256", sign, {"nonce": "abc", "url": BASE + "/order/x", "kid": BASE + "/account/a"}, "")
    new_jwk, new_sign = jwk_and_signer("ES256")
    inner = jws("ES256", new_sign, {"url": BASE + "/key-change", "jwk": new_jwk},
                json.dumps({"account": BASE + "/account/a", "oldKey": jwk}))
    seeds["key_change"] = jws("ES256", sign, {"nonce": "abc", "url": BASE + "/key-change", "kid": BASE + "/account/a"},
                              json.dumps(inner))
    # A signature whose r starts with a zero byte, sent without it (Apple's client).
    for i in range(4000):
        s = jws("ES256", sign, {"nonce": "n%d" % i, "url": BASE + "/new-account", "jwk": jwk}, "{}")
        raw = base64.urlsafe_b64decode(s["signature"] + "==")
        if raw[0] == 0:
            s["signature"] = b64(raw[1:])
            seeds["dropped_zero_es256"] = s
            break
    for name, body in seeds.items():
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(body, f)
    print("wrote %d seeds to %s" % (len(seeds), OUT), file=sys.stderr)


if __name__ == "__main__":
    main()
