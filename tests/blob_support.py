"""Raw-row helpers shared by the blob tests (test_ops_blobs.py, test_verify.py): they read and alter
session databases with plain apsw and decode with cbor2/zlib, never through the code under test."""

from __future__ import annotations

import hashlib
import itertools
import json
import zlib
from pathlib import Path

import apsw
import cbor2


def raw_rows(path: Path) -> dict[str, bytes]:
    conn = apsw.Connection(f"file:{path}?immutable=1", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    try:
        return {h: bytes(c) for h, c in conn.execute("SELECT hash, content FROM blobs")}
    finally:
        conn.close()


def logical(stored: bytes) -> bytes:
    env = cbor2.loads(stored)
    return zlib.decompress(env["content"]) if env["compression"] == "Zlib" else env["content"]


def reachable(path: Path) -> set[str]:
    """GC roots and the manifest's children, decoded here."""
    conn = apsw.Connection(f"file:{path}?immutable=1", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    try:
        head = json.loads(conn.execute("SELECT head_json FROM session_head").fetchall()[0][0])
        out = {r[0] for r in conn.execute("SELECT blob_ref FROM artifact_refs")}
    finally:
        conn.close()
    ref = head.get("checkpoint_ref")
    if ref:
        out.add(ref)
        manifest = cbor2.loads(logical(raw_rows(path)[ref]))
        out |= {manifest[k] for k in ("tool_state_ref", "plugin_snapshot_ref", "execution_state_ref") if k in manifest}
    return out


def alter(path: Path, blob_hash: str, position: int = -1) -> None:
    """Flip one byte of a stored row (default: its last byte, inside the content) with plain apsw."""
    conn = apsw.Connection(str(path))
    try:
        (content,), = conn.execute("SELECT content FROM blobs WHERE hash = ?", (blob_hash,)).fetchall()
        changed = bytearray(content)
        changed[position] ^= 0x5A
        conn.execute("UPDATE blobs SET content = ? WHERE hash = ?", (bytes(changed), blob_hash))
    finally:
        conn.close()


def colliding_pair(prefix_len: int = 6) -> tuple[bytes, bytes, str]:
    """Two contents whose SHA-256 hex share the first ``prefix_len`` digits."""
    seen: dict[str, bytes] = {}
    for i in itertools.count():
        content = f"collide {i}".encode()
        key = hashlib.sha256(content).hexdigest()[:prefix_len]
        if key in seen:
            return seen[key], content, key
        seen[key] = content

