#!/usr/bin/env python3
"""Writes real_attobj.cbor: the real macOS attestation chain of this folder (real_leaf_macos15.pem,
apple_enterprise_attestation_sub_ca_1.pem) wrapped in a device-attest-01 attestation object
{"fmt": "apple", "attStmt": {"x5c": [leaf, sub CA]}}, encoded by hand here (definite-length
CBOR, RFC 8949) so the C++ decoder is checked against an encoder it does not share code with.

Usage: python3 make_real_attobj.py   (needs the openssl CLI; run in this folder)
"""
import subprocess


def der(pem_file):
    return subprocess.run(["openssl", "x509", "-in", pem_file, "-outform", "DER"],
                          check=True, capture_output=True).stdout


def head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    if n < 0x100:
        return bytes([major << 5 | 24, n])
    if n < 0x10000:
        return bytes([major << 5 | 25]) + n.to_bytes(2, "big")
    return bytes([major << 5 | 26]) + n.to_bytes(4, "big")


def text(s):
    b = s.encode()
    return head(3, len(b)) + b


def data(b):
    return head(2, len(b)) + b


leaf = der("real_leaf_macos15.pem")
sub = der("apple_enterprise_attestation_sub_ca_1.pem")
obj = (head(5, 2) + text("fmt") + text("apple") + text("attStmt") + head(5, 1) + text("x5c") +
       head(4, 2) + data(leaf) + data(sub))
with open("real_attobj.cbor", "wb") as f:
    f.write(obj)
