#!/usr/bin/env python3
"""Append DuckDB's extension metadata footer to a shared library.

DuckDB reads the last 512 bytes of an extension file. The footer is 534 bytes, shaped as a
WebAssembly custom section: 0x00, LEB128 length 531, name "duckdb_signature" (16 bytes),
LEB128 payload length 512, eight 32-byte NUL-padded ASCII fields written in reverse order
(8, 7, 6 empty; 5 ABI type; 4 extension version; 3 DuckDB/C API version; 2 platform; 1 magic "4"),
then 256 signature bytes (zeros: unsigned).

Usage: duckdb_footer.py IN.so OUT.duckdb_extension [--platform linux_amd64] [--version v1.2.0]
                        [--abi C_STRUCT] [--ext-version 0.1.0]
"""
import argparse
import os
import shutil
import sys

FIELD = 32


def field(text: str) -> bytes:
    raw = text.encode("ascii")
    if len(raw) > FIELD:
        raise SystemExit(f"footer field too long ({len(raw)} > {FIELD} bytes): {text!r}")
    return raw + b"\0" * (FIELD - len(raw))


def footer(platform: str, version: str, abi: str, ext_version: str) -> bytes:
    fields = [field("4"), field(platform), field(version), field(ext_version), field(abi),
              field(""), field(""), field("")]
    payload = b"".join(reversed(fields)) + b"\0" * 256
    assert len(payload) == 512
    name = b"duckdb_signature"
    body = bytes([len(name)]) + name + bytes([0x80, 0x04]) + payload
    assert len(body) == 531
    out = b"\x00" + bytes([0x93, 0x04]) + body
    assert len(out) == 534
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--platform", default="linux_amd64")
    p.add_argument("--version", default="v1.2.0", help="minimum C API version for C_STRUCT")
    p.add_argument("--abi", default="C_STRUCT")
    p.add_argument("--ext-version", default="0.1.0")
    a = p.parse_args(argv)
    tmp = a.output + ".tmp"
    shutil.copyfile(a.input, tmp)
    with open(tmp, "ab") as f:
        f.write(footer(a.platform, a.version, a.abi, a.ext_version))
    os.replace(tmp, a.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
