"""Binary-format layer of the local Hub: hashes, xorbs and shards.

Ground truth is ``hf_xet`` itself: one subprocess uploads a few files through the ``local://``
endpoint (no server) with each compression policy, and the xorbs/shards it stores are parsed,
re-built and verified here. The spec's test vectors (``xet-cas-protocol.md`` §8.7, Appendix A),
corruption cases and Hypothesis round trips cover the rest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import blake3
import lz4.frame
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_bucket_sink.localhub.hashing import (
    ZERO_HASH,
    chunk_hash,
    file_hash,
    hash_to_hex,
    hex_to_hash,
    merkle_root,
    verification_hash,
    xorb_hash,
)
from hf_bucket_sink.localhub.shard import (
    CHUNK_FLAG_GLOBAL_DEDUP,
    Shard,
    ShardChunk,
    ShardFile,
    ShardFormatError,
    ShardXorb,
    Term,
    UnknownXorbError,
    build_shard,
    parse_shard,
    verify_file_terms,
    verify_xorb_listing,
)
from hf_bucket_sink.localhub.xorb import (
    MAX_CHUNK_SIZE,
    MAX_SERIALIZED_XORB_BYTES,
    MAX_XORB_CHUNKS,
    XorbFormatError,
    XorbInfo,
    decode_chunk_table,
    decompress_chunk,
    encode_chunk_table,
    iter_chunk_data,
    parse_xorb,
    serialize_xorb,
)

APPENDIX_XORB = "2e8331cea38240669b800c6749968b61a44ad62aa9fc34309be9de1df664153a"
APPENDIX_FILE = "156e99303be514ea09251a406a6dfe03e07ddc3a7afafbaa0f7f9311d136b9a0"
POLICIES = ("none", "lz4", "bg4-lz4")

# Runs in a subprocess so hf_xet reads HF_XET_CACHE/HF_HOME pointing into the test's temp dir.
_GENERATE = r"""
import json, os, random, sys
import hf_xet, polars as pl

root = sys.argv[1]
data = os.path.join(root, "data")
os.makedirs(data)
n = 60_000
i = pl.int_range(0, n, eager=True)
pl.DataFrame(
    {
        "id": i,
        "x": i.cast(pl.Float64).sin() * 1000.0,
        "cat": (i % 97).cast(pl.String).str.pad_start(6, "k"),
    }
).write_parquet(os.path.join(data, "table.parquet"), compression="uncompressed", statistics=False)
block = random.Random(2).randbytes(300_000)
files = {
    "table.parquet": None,
    "repeat.bin": block * 3,  # deduplicated inside the file: terms that repeat chunks
    "hello.txt": b"hello world",
    "empty.bin": b"",
    "random.bin": random.Random(1).randbytes(2_000_000),  # Appendix A
}
for name, content in files.items():
    if content is not None:
        with open(os.path.join(data, name), "wb") as fh:
            fh.write(content)

def upload(endpoint, policy, names):
    config = hf_xet.XetConfig().with_config("xorb.compression_policy", policy)
    commit = hf_xet.XetSession(config=config).new_upload_commit(endpoint="local://" + endpoint)
    for name in names:
        commit.start_upload_file(os.path.join(data, name))
    commit.wait_to_finish()

upload(os.path.join(root, "appendix"), "auto", ["random.bin"])
for policy in ("none", "lz4", "bg4-lz4"):
    names = ["table.parquet", "repeat.bin", "hello.txt", "empty.bin"]
    upload(os.path.join(root, policy), policy, names)
paths = [os.path.join(data, name) for name in files]
hashes = {os.path.basename(p): [h.hash, h.file_size] for p, h in zip(paths, hf_xet.hash_files(paths))}
print(json.dumps(hashes))
"""


@dataclasses.dataclass(frozen=True)
class XetLocal:
    root: Path
    hashes: dict[str, tuple[str, int]]  # file name -> (hash hex, size), from hf_xet.hash_files

    def endpoint(self, name: str) -> Path:
        return self.root / name / "xet" / "xorbs"

    def xorbs(self, name: str) -> dict[bytes, bytes]:
        """Stored xorbs (WITH the xet-core footer) by raw hash."""
        folder = self.endpoint(name) / "xorbs"
        return {
            hex_to_hash(p.name.split(".", 1)[1]): p.read_bytes()
            for p in folder.iterdir()
            if p.name.startswith("default.") and not p.name.endswith(".tagset")
        }

    def shards(self, name: str) -> list[bytes]:
        return [p.read_bytes() for p in sorted((self.endpoint(name) / "shards").glob("*.mdb"))]

    def content(self, file_name: str) -> bytes:
        return (self.root / "data" / file_name).read_bytes()


@pytest.fixture(scope="module")
def xet_local(tmp_path_factory: pytest.TempPathFactory) -> XetLocal:
    pytest.importorskip("hf_xet")
    root = tmp_path_factory.mktemp("xet-local")
    env = {**os.environ, "HF_XET_CACHE": str(root / "cache"), "HF_HOME": str(root / "hf-home")}
    env.pop("HF_XET_XORB_COMPRESSION_POLICY", None)
    proc = subprocess.run(
        [sys.executable, "-c", _GENERATE, str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    hashes = json.loads(proc.stdout.strip().splitlines()[-1])
    return XetLocal(root, {k: (v[0], v[1]) for k, v in hashes.items()})


def _schemes(body: bytes, info: XorbInfo) -> set[int]:
    return {body[c.compressed_start + 4] for c in info.chunks}


def _footerless_shard(stored: bytes) -> bytes:
    """What the client uploads: the stored shard without its footer, header saying footer_size 0."""
    return stored[:32] + struct.pack("<QQ", 2, 0) + stored[48:-200]


def _lookups(infos: dict[bytes, XorbInfo]) -> tuple[
    Callable[[bytes], tuple[bytes, ...] | None], Callable[[bytes], tuple[int, ...] | None]
]:
    def hashes_of(h: bytes) -> tuple[bytes, ...] | None:
        return infos[h].chunk_hashes if h in infos else None

    def sizes_of(h: bytes) -> tuple[int, ...] | None:
        return infos[h].chunk_sizes if h in infos else None

    return hashes_of, sizes_of


def _reconstruct(f: ShardFile, bodies: dict[bytes, bytes], infos: dict[bytes, XorbInfo]) -> bytes:
    out = []
    for t in f.terms:
        start, end = infos[t.xorb_hash].byte_range(t.chunk_start, t.chunk_end)
        out.extend(iter_chunk_data(bodies[t.xorb_hash][start:end]))
    return b"".join(out)


# ----------------------------------------------------------------------------------------------
# hashes


def test_hash_string_form_example_and_round_trip() -> None:
    raw = bytes(range(32))
    text = "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918"
    assert hash_to_hex(raw) == text
    assert hex_to_hash(text) == raw
    assert hex_to_hash(text.upper()) == raw
    for _ in range(50):
        h = random.Random(_).randbytes(32)
        assert hex_to_hash(hash_to_hex(h)) == h


@pytest.mark.parametrize(
    "bad",
    ["", "0" * 63, "0" * 65, "g" * 64, " " + "0" * 63, "0" * 63 + "\n", "0x" + "0" * 62,
     "+" + "0" * 63, "0_" + "0" * 62, "\u0661" * 64, b"0" * 64, None],
)  # fmt: skip
def test_hex_to_hash_rejects_anything_but_64_hex_digits(bad: object) -> None:
    with pytest.raises(ValueError):
        hex_to_hash(bad)  # type: ignore[arg-type]


def test_hash_to_hex_rejects_wrong_length() -> None:
    with pytest.raises(ValueError):
        hash_to_hex(bytes(31))


def test_spec_vectors() -> None:
    hello = chunk_hash(b"hello world")
    assert hello.hex() == "119f359d8b37394e0213441f7a559081d97ba0cf5f4ea519b151e66f460bf56c"
    assert hash_to_hex(hello) == "4e39378b9d359f118190557a1f44130219a54e5fcfa07bd96cf50b466fe651b1"
    assert xorb_hash([(hello, 11)]) == hello
    assert hash_to_hex(file_hash([(hello, 11)])) == (
        "f15edd43b7e85cfd25e2758ffe13b99fdd09dfa817e8d9f6548722a7a126db7f"
    )
    assert hash_to_hex(verification_hash([hello])) == (
        "22ef2fdcff5cea306e42ad7e15ed8a0c5e789e7d2ec34658c10d2758946847da"
    )
    zero = chunk_hash(bytes(131072))
    assert hash_to_hex(zero) == "2e39f13c248013b27e22913ba2893a654120ed0ad8eb7ecbf3f05b9d708634fc"
    mib = [(zero, 131072)] * 8
    assert hash_to_hex(xorb_hash(mib)) == (
        "8c15d5bfe292d5f8f3b992149581636a5c4078ce9c4349d43f1a762ba0609839"
    )
    assert hash_to_hex(file_hash(mib)) == (
        "1e671fe124cea35586b1d1c30b9d4fc6b4e05ee60c93406986444f7c23d54056"
    )
    assert hash_to_hex(verification_hash([zero] * 8)) == (
        "4c8a43f586d304f6006c4a323671636fbb32ffc7d146b778ed91ddca10f80fce"
    )
    plus_one = [*mib, (chunk_hash(b"\0"), 1)]
    assert hash_to_hex(xorb_hash(plus_one)) == (
        "829f445b3da1dd485ea965b3d3e519ae16eb8d87389980900fcf2c26a7f4bdd2"
    )
    assert hash_to_hex(file_hash(plus_one)) == (
        "93a9da298f8391453c4a5f39e00261f1a0357afe2a40596bfb7ad66b75c3b666"
    )
    four = [(zero, 131072)] * 32
    assert hash_to_hex(xorb_hash(four)) == (
        "88b862c6b89e35d88e1ab086bda7dd0c02a6902671215b65be0d52315573a871"
    )
    assert hash_to_hex(file_hash(four)) == (
        "415a9f090c4dd24d5117c98e2a0c8530a036351edece45a3adee91dbaa2013dc"
    )
    assert merkle_root([]) == ZERO_HASH and file_hash([]) == ZERO_HASH


def test_hello_world_serialized_xorb() -> None:
    body = serialize_xorb([b"hello world"])
    assert body == bytes.fromhex("000b0000000b0000") + b"hello world"
    info = parse_xorb(body, chunk_hash(b"hello world"))
    assert (info.num_chunks, info.raw_size, info.serialized_size) == (1, 11, 19)


# ----------------------------------------------------------------------------------------------
# real hf_xet output


def test_appendix_a_exchange(xet_local: XetLocal) -> None:
    content = random.Random(1).randbytes(2_000_000)
    assert xet_local.content("random.bin") == content
    bodies = xet_local.xorbs("appendix")
    assert [hash_to_hex(h) for h in bodies] == [APPENDIX_XORB]
    body = bodies[hex_to_hash(APPENDIX_XORB)]
    info = parse_xorb(body, hex_to_hash(APPENDIX_XORB))
    assert (info.num_chunks, info.raw_size, info.serialized_size) == (35, 2_000_000, 2_000_280)
    # the uploaded form has no footer and must verify on its own
    assert parse_xorb(body[: info.serialized_size], hex_to_hash(APPENDIX_XORB)) == info
    [stored] = xet_local.shards("appendix")
    upload = _footerless_shard(stored)
    assert len(upload) == 2064
    shard = parse_shard(upload)
    [f] = shard.files
    assert hash_to_hex(f.file_hash) == APPENDIX_FILE == xet_local.hashes["random.bin"][0]
    assert f.sha256_hex == hashlib.sha256(content).hexdigest()
    verify_file_terms(f, *_lookups({info.hash: info}))
    assert _reconstruct(f, bodies, {info.hash: info}) == content
    assert build_shard(shard.files, shard.xorbs) == upload


@pytest.mark.parametrize("policy", POLICIES)
def test_real_xorbs_parse_and_decode(xet_local: XetLocal, policy: str) -> None:
    bodies = xet_local.xorbs(policy)
    assert bodies
    schemes: set[int] = set()
    for h, body in bodies.items():
        info = parse_xorb(body, h)  # stored copy: with the xet-core footer
        assert info.hash == h
        assert info.serialized_size < len(body)
        assert parse_xorb(memoryview(body)[: info.serialized_size], h) == info
        assert decode_chunk_table(h, encode_chunk_table(info)) == info
        raw = b"".join(iter_chunk_data(body[: info.serialized_size]))
        assert len(raw) == info.raw_size
        assert [chunk_hash(raw[s - z : s]) for s, z in _ends(info)] == list(info.chunk_hashes)
        schemes |= _schemes(body, info)
    expected = {"none": {0}, "lz4": {1}, "bg4-lz4": {2}}[policy]
    assert expected <= schemes <= expected | {0}  # incompressible chunks fall back to scheme 0


def _ends(info: XorbInfo) -> list[tuple[int, int]]:
    out, pos = [], 0
    for c in info.chunks:
        pos += c.size
        out.append((pos, c.size))
    return out


@pytest.mark.parametrize("policy", POLICIES)
def test_real_shards_parse_rebuild_verify(xet_local: XetLocal, policy: str) -> None:
    bodies = xet_local.xorbs(policy)
    infos = {h: parse_xorb(b, h) for h, b in bodies.items()}
    [stored] = xet_local.shards(policy)
    shard = parse_shard(stored)
    # xet-core's stored copy (footer, timestamps 0, no lookup tables) is rebuilt byte for byte …
    assert build_shard(shard.files, shard.xorbs, with_footer=True, created_at=0) == stored
    # … and so is the footer-less upload form.
    upload = _footerless_shard(stored)
    assert build_shard(shard.files, shard.xorbs) == upload
    assert parse_shard(upload) == shard
    assert any(c.flags == CHUNK_FLAG_GLOBAL_DEDUP for x in shard.xorbs for c in x.chunks)
    for x in shard.xorbs:
        verify_xorb_listing(x, infos[x.hash].chunk_hashes, infos[x.hash].chunk_sizes)
    by_hash = {hex_to_hash(h): (name, size) for name, (h, size) in xet_local.hashes.items()}
    seen = set()
    for f in shard.files:
        verify_file_terms(f, *_lookups(infos))
        name, size = by_hash[f.file_hash]
        seen.add(name)
        content = xet_local.content(name)
        assert f.size == size == len(content)
        assert _reconstruct(f, bodies, infos) == content
        if content:
            assert f.sha256_hex == hashlib.sha256(content).hexdigest()
        else:
            assert f.terms == () and f.file_hash == ZERO_HASH and f.sha256 == ZERO_HASH
    assert seen == {"table.parquet", "repeat.bin", "hello.txt", "empty.bin"}
    repeat = next(f for f in shard.files if by_hash[f.file_hash][0] == "repeat.bin")
    assert len(repeat.terms) > 1  # intra-file dedup really produced several terms


def test_iter_chunk_data_on_sub_ranges(xet_local: XetLocal) -> None:
    bodies = xet_local.xorbs("bg4-lz4")
    h, body = max(bodies.items(), key=lambda kv: len(kv[1]))
    info = parse_xorb(body, h)
    raw = b"".join(iter_chunk_data(body[: info.serialized_size]))
    offsets = [0]
    for c in info.chunks:
        offsets.append(offsets[-1] + c.size)
    rng = random.Random(5)
    for _ in range(20):
        a = rng.randrange(info.num_chunks)
        b = rng.randrange(a + 1, info.num_chunks + 1)
        start, end = info.byte_range(a, b)
        assert b"".join(iter_chunk_data(body[start:end])) == raw[offsets[a] : offsets[b]]
    start, end = info.byte_range(0, 2)
    with pytest.raises(XorbFormatError, match="runs past the end"):
        list(iter_chunk_data(body[start : end - 1]))
    with pytest.raises(XorbFormatError):
        list(iter_chunk_data(body[start + 1 : end]))
    with pytest.raises(IndexError):
        info.byte_range(0, info.num_chunks + 1)


# ----------------------------------------------------------------------------------------------
# corrupted xorbs

_C0 = random.Random(3).randbytes(5000)  # scheme 0 chunk
_C1 = b"abcdefgh" * 1500  # scheme 1 chunk
_C2 = bytes(range(256)) * 41  # scheme 2 chunk (length not a multiple of 4 after the cut)
_C2 = _C2[:-3]
_MIXED = serialize_xorb([_C0], 0) + serialize_xorb([_C1], 1) + serialize_xorb([_C2], 2)
_MIXED_HASH = xorb_hash([(chunk_hash(c), len(c)) for c in (_C0, _C1, _C2)])
_OFF1 = 8 + len(_C0)  # header offset of chunk 1
_OFF2 = _OFF1 + 8 + (struct.unpack_from("<I", _MIXED, _OFF1)[0] >> 8)


def _patch(body: bytes, offset: int, new: bytes) -> bytes:
    return body[:offset] + new + body[offset + len(new) :]


def _header(payload_len: int, scheme: int, size: int, version: int = 0) -> bytes:
    return struct.pack("<II", version | payload_len << 8, scheme | size << 8)


def test_mixed_scheme_xorb_parses() -> None:
    info = parse_xorb(_MIXED, _MIXED_HASH)
    assert _schemes(_MIXED, info) == {0, 1, 2}
    assert [c.compressed_start for c in info.chunks] == [0, _OFF1, _OFF2]
    assert list(iter_chunk_data(_MIXED)) == [_C0, _C1, _C2]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: _patch(b, 100, bytes([b[100] ^ 1])), "hash mismatch"),  # scheme-0 payload
        (lambda b: _patch(b, _OFF1 + 30, bytes([b[_OFF1 + 30] ^ 0x55])), "chunk 1"),  # LZ4 payload
        # a wrong payload length derails the walk at the next header
        (lambda b: _patch(b, 0, _header(len(_C0) + 1, 0, len(_C0))), f"chunk 1 at offset {_OFF1 + 1}"),
        (lambda b: _patch(b, 0, _header(len(_C0) - 1, 0, len(_C0))), f"chunk 1 at offset {_OFF1 - 1}"),
        (lambda b: _patch(b, 0, _header(len(_C0), 0, len(_C0) + 1)), "chunk 0 .*payload but size"),
        (lambda b: b[:-1], "runs past the end"),
        (lambda b: b[: _OFF2 + 5], "truncated header"),
        (lambda b: _patch(b, _OFF1 + 4, b"\x03"), "unknown compression scheme 3"),
        (lambda b: _patch(b, _OFF1 + 4, b"\x63"), "unknown compression scheme 99"),
        (lambda b: _patch(b, _OFF1, b"\x01"), "header version 1"),
        (lambda b: b + b"junk", "chunk 3 at offset"),
        (lambda b: b + bytes(8), "uncompressed length is 0"),
        (lambda b: b + bytes(3), "truncated header"),
        (lambda b: _patch(b, _OFF2 + 5, struct.pack("<I", (len(_C2) + 1))[:3]), "decompresses"),
        (lambda b: _patch(b, 5, struct.pack("<I", MAX_CHUNK_SIZE + 1)[:3]), "exceeds the 131072"),
        (lambda b: b"", "empty xorb body"),
        (lambda b: b"XETBLOB\x01" + bytes(88), "header version 88"),
    ],
)
def test_corrupted_xorb_is_rejected(mutate: Callable[[bytes], bytes], match: str) -> None:
    with pytest.raises(XorbFormatError, match=match):
        parse_xorb(mutate(_MIXED), _MIXED_HASH)


def test_xorb_expected_hash_mismatch_names_both_hashes() -> None:
    wrong = bytes(32)
    with pytest.raises(XorbFormatError) as err:
        parse_xorb(_MIXED, wrong)
    assert hash_to_hex(_MIXED_HASH) in str(err.value) and hash_to_hex(wrong) in str(err.value)
    # without an expected hash, a flipped scheme-0 byte simply yields another hash
    assert parse_xorb(_patch(_MIXED, 100, b"\x00")).hash != _MIXED_HASH


def test_real_xorb_footer_is_cross_checked(xet_local: XetLocal) -> None:
    h, body = next(iter(xet_local.xorbs("lz4").items()))
    info = parse_xorb(body, h)
    end = info.serialized_size
    n = info.num_chunks
    cases = {
        "footer names xorb": _patch(body, end + 8, bytes(32)),
        "footer version 2": _patch(body, end + 7, b"\x02"),
        "chunk hashes differ": _patch(body, end + 52, bytes(4)),
        "boundary offsets differ": _patch(body, end + 52 + 32 * n + 12, bytes(4)),
        "bytes, a version-1 footer": body[:-1],
        ": 96 bytes, a version-1 footer": body[: end + 96],
        "info_length": _patch(body, len(body) - 4, b"\x00\x00\x00\x00"),
    }
    for match, bad in cases.items():
        with pytest.raises(XorbFormatError, match=match):
            parse_xorb(bad, h)
    # a chunk payload changed under an intact footer is still caught
    with pytest.raises(XorbFormatError):
        parse_xorb(_patch(body, 20, bytes([body[20] ^ 1])))


def test_xorb_limits() -> None:
    tiny = _header(1, 0, 1) + b"x"
    with pytest.raises(XorbFormatError, match="more than 8192 chunks"):
        parse_xorb(tiny * (MAX_XORB_CHUNKS + 1))
    assert parse_xorb(tiny * MAX_XORB_CHUNKS).num_chunks == MAX_XORB_CHUNKS
    full = _header(MAX_CHUNK_SIZE, 0, MAX_CHUNK_SIZE) + bytes(MAX_CHUNK_SIZE)
    with pytest.raises(XorbFormatError, match="raw chunk data exceeds"):
        parse_xorb(full * 513)
    with pytest.raises(XorbFormatError, match="exceeds the .*-byte limit"):
        parse_xorb(bytes(MAX_SERIALIZED_XORB_BYTES + 1))
    with pytest.raises(XorbFormatError, match="payload length"):
        parse_xorb(_header(2 * MAX_CHUNK_SIZE + 1, 1, 10) + bytes(2 * MAX_CHUNK_SIZE + 1))


def test_decompress_chunk_rejects_bad_lz4_payloads() -> None:
    data = b"0123456789" * 1000
    frame = lz4.frame.compress(data, store_size=False)  # like hf_xet: no content size
    assert decompress_chunk(1, frame, len(data)) == data
    assert decompress_chunk(0, data, len(data)) == data
    with pytest.raises(XorbFormatError, match="trailing bytes"):
        decompress_chunk(1, frame + b"\x00", len(data))
    with pytest.raises(XorbFormatError, match="more than"):
        decompress_chunk(1, frame, len(data) - 1)
    with pytest.raises(XorbFormatError, match="decompresses to"):
        decompress_chunk(1, frame, len(data) + 1)
    with pytest.raises(XorbFormatError, match="truncated"):
        decompress_chunk(1, frame[:-6], len(data))
    with pytest.raises(XorbFormatError, match="not an LZ4 frame"):
        decompress_chunk(1, b"\x00" * 20, 10)
    sized = lz4.frame.compress(data, store_size=True)
    with pytest.raises(XorbFormatError, match="declares"):
        decompress_chunk(1, sized, len(data) - 1)
    # a decompression bomb is cut off at the announced size + 1
    bomb = lz4.frame.compress(bytes(16 * 1024 * 1024), store_size=False)
    with pytest.raises(XorbFormatError, match="more than"):
        decompress_chunk(1, bomb, 1000)
    with pytest.raises(XorbFormatError, match="scheme 7"):
        decompress_chunk(7, data, len(data))


def test_chunk_table_blob_is_checked() -> None:
    info = parse_xorb(_MIXED)
    blob = encode_chunk_table(info)
    assert len(blob) == 8 + 40 * 3
    with pytest.raises(XorbFormatError):
        decode_chunk_table(info.hash, blob[:-1])
    with pytest.raises(XorbFormatError):
        decode_chunk_table(info.hash, b"XXXX" + blob[4:])


# ----------------------------------------------------------------------------------------------
# corrupted shards


def _shard_fixture(xet_local: XetLocal) -> tuple[Shard, bytes, dict[bytes, XorbInfo]]:
    infos = {h: parse_xorb(b, h) for h, b in xet_local.xorbs("lz4").items()}
    [stored] = xet_local.shards("lz4")
    upload = _footerless_shard(stored)
    return parse_shard(upload), upload, infos


def _file_offsets(shard: Shard) -> list[int]:
    """Offset of each file's header record in the shard."""
    offsets, pos = [], 48
    for f in shard.files:
        offsets.append(pos)
        verified = bool(f.terms) and f.terms[0].verification is not None
        pos += 48 * (1 + len(f.terms) * (2 if verified else 1) + (f.sha256 is not None))
    return offsets


def test_corrupted_shard_bytes_are_rejected(xet_local: XetLocal) -> None:
    shard, upload, _ = _shard_fixture(xet_local)
    flags_at = 48 + 32
    cases: dict[str, bytes] = {
        "tag is wrong": _patch(upload, 3, b"X"),
        "header version 3": _patch(upload, 32, struct.pack("<Q", 3)),
        "footer_size 100": _patch(upload, 40, struct.pack("<Q", 100)),
        "cannot hold": _patch(upload[:96], 40, struct.pack("<Q", 200)),
        "shorter than its 48-byte header": upload[:47],
        "truncated at offset": upload[:-48],  # CAS-info bookend missing
        "trailing bytes": upload + bytes(48),
        "CAS-info bookend": _patch(upload, len(upload) - 1, b"\x01"),
        "unknown file flags": _patch(upload, flags_at, struct.pack("<I", 0xC0000001)),
        "reserved header bytes": _patch(upload, 48 + 40, b"\x01"),
    }
    index = next(i for i, f in enumerate(shard.files) if f.terms)
    term_at = _file_offsets(shard)[index] + 48
    cases["cas_flags"] = _patch(upload, term_at + 32, b"\x01")
    cases["empty chunk range"] = _patch(upload, term_at + 40, struct.pack("<II", 5, 5))
    verified_at = term_at + 48 * len(shard.files[index].terms)
    cases["verification entry 0 has non-zero"] = _patch(upload, verified_at + 40, b"\x01")
    for match, bad in cases.items():
        with pytest.raises(ShardFormatError, match=match):
            parse_shard(bad)
    # drop the file-info bookend: the CAS records are then misread and must not parse
    file_bookend = len(build_shard(shard.files, [])) - 96
    assert upload[file_bookend : file_bookend + 32] == b"\xff" * 32
    with pytest.raises(ShardFormatError):
        parse_shard(upload[:file_bookend] + upload[file_bookend + 48 :])


def test_cas_section_consistency(xet_local: XetLocal) -> None:
    shard, upload, _ = _shard_fixture(xet_local)
    cas_at = len(build_shard(shard.files, [])) - 48  # first xorb header
    assert upload[cas_at : cas_at + 32] == shard.xorbs[0].hash
    with pytest.raises(ShardFormatError, match="num_bytes_in_cas"):
        parse_shard(_patch(upload, cas_at + 40, struct.pack("<I", shard.xorbs[0].bytes_in_cas + 1)))
    with pytest.raises(ShardFormatError, match="chunk 1 starts at"):
        parse_shard(_patch(upload, cas_at + 2 * 48 + 32, struct.pack("<I", 7)))
    with pytest.raises(ShardFormatError, match="0 chunks"):
        parse_shard(_patch(upload, cas_at + 36, struct.pack("<I", 0)))
    with pytest.raises(ShardFormatError, match="truncated"):
        parse_shard(_patch(upload, cas_at + 36, struct.pack("<I", 8000)))


def test_shard_footer_is_checked(xet_local: XetLocal) -> None:
    [stored] = xet_local.shards("lz4")
    footer = len(stored) - 200
    with pytest.raises(ShardFormatError, match="footer_offset"):
        parse_shard(_patch(stored, footer + 192, struct.pack("<Q", 1)))
    with pytest.raises(ShardFormatError, match="xorb_info_offset"):
        parse_shard(_patch(stored, footer + 16, struct.pack("<Q", 48)))
    with pytest.raises(ShardFormatError, match="version 2"):
        parse_shard(_patch(stored, footer, struct.pack("<Q", 2)))
    # 12 unexplained bytes between the sections and the footer
    gap = stored[:footer] + bytes(12) + stored[footer:]
    gap = _patch(gap, len(gap) - 8, struct.pack("<Q", footer + 12))
    with pytest.raises(ShardFormatError, match="lookup tables account for 0"):
        parse_shard(gap)
    # … which is fine once a file lookup table of one entry is declared there
    ok = _patch(gap, footer + 12 + 24, struct.pack("<QQ", footer, 1))
    assert parse_shard(ok) == parse_shard(stored)


def _one_xorb(infos: dict[bytes, XorbInfo]) -> XorbInfo:
    return max(infos.values(), key=lambda i: i.num_chunks)


def _term(info: XorbInfo, start: int, end: int) -> Term:
    hashes = info.chunk_hashes[start:end]
    return Term(info.hash, sum(info.chunk_sizes[start:end]), start, end, verification_hash(hashes))


def _file(infos: dict[bytes, XorbInfo], *terms: Term) -> ShardFile:
    leaves: list[tuple[bytes, int]] = []
    for t in terms:
        info = infos[t.xorb_hash]
        leaves.extend(
            zip(
                info.chunk_hashes[t.chunk_start : t.chunk_end],
                info.chunk_sizes[t.chunk_start : t.chunk_end],
            )
        )
    return ShardFile(file_hash(leaves), tuple(terms), None)


def test_verify_file_terms_catches_semantic_errors(xet_local: XetLocal) -> None:
    _, _, infos = _shard_fixture(xet_local)
    info = _one_xorb(infos)
    assert info.num_chunks >= 4
    hashes_of, sizes_of = _lookups(infos)
    good = _file(infos, _term(info, 0, 2), _term(info, 2, 4))
    verify_file_terms(good, hashes_of, sizes_of)
    t0, t1 = good.terms

    def check(bad: ShardFile, match: str) -> None:
        with pytest.raises(ShardFormatError, match=match):
            verify_file_terms(bad, hashes_of, sizes_of)

    # wrong verification hash
    def with_terms(*terms: Term) -> ShardFile:
        return dataclasses.replace(good, terms=terms)

    check(with_terms(dataclasses.replace(t0, verification=bytes(32)), t1), "verification")
    # term past the chunk count
    n = info.num_chunks
    past = Term(info.hash, t1.unpacked_bytes, n - 1, n + 1, None)
    check(with_terms(t0, past), rf"outside the xorb's {n} chunks")
    # unpacked bytes disagree with the chunk sizes
    check(with_terms(dataclasses.replace(t0, unpacked_bytes=1), t1), "unpacked_bytes 1")
    # spliced / reordered terms keep per-term checks happy but break the file hash
    check(with_terms(t1, t0), "spliced or reordered")
    other = _file(infos, _term(info, 0, 1))
    check(with_terms(*good.terms, *other.terms), "spliced or reordered")
    # empty files
    verify_file_terms(ShardFile(ZERO_HASH, (), ZERO_HASH), hashes_of, sizes_of)
    check(ShardFile(good.file_hash, (), None), "no terms")
    check(dataclasses.replace(good, file_hash=ZERO_HASH), "spliced or reordered")
    # unknown xorb
    ghost = bytes(range(32))
    with pytest.raises(UnknownXorbError) as err:
        verify_file_terms(with_terms(dataclasses.replace(t0, xorb_hash=ghost)), hashes_of, sizes_of)
    assert err.value.xorb_hash == ghost
    # verification is optional: a file without verification entries still checks
    verify_file_terms(
        with_terms(*(dataclasses.replace(t, verification=None) for t in good.terms)),
        hashes_of,
        sizes_of,
    )
    # the lookup is consulted once per distinct xorb
    calls: list[bytes] = []

    def counting(h: bytes) -> tuple[bytes, ...] | None:
        calls.append(h)
        return hashes_of(h)

    verify_file_terms(good, counting, sizes_of)
    assert calls == [info.hash]


def test_verify_xorb_listing(xet_local: XetLocal) -> None:
    shard, _, infos = _shard_fixture(xet_local)
    x = shard.xorbs[0]
    info = infos[x.hash]
    verify_xorb_listing(x, info.chunk_hashes, info.chunk_sizes)
    with pytest.raises(UnknownXorbError):
        verify_xorb_listing(x, None, None)
    with pytest.raises(ShardFormatError, match="chunk 0 differs"):
        verify_xorb_listing(x, (bytes(32), *info.chunk_hashes[1:]), info.chunk_sizes)
    with pytest.raises(ShardFormatError, match="lists"):
        verify_xorb_listing(x, info.chunk_hashes[:-1], info.chunk_sizes[:-1])


def test_build_shard_rules() -> None:
    h = chunk_hash(b"hello world")
    term = Term(h, 11, 0, 1, verification_hash([h]))
    plain = Term(h, 11, 0, 1, None)
    with pytest.raises(ValueError, match="some terms"):
        build_shard([ShardFile(file_hash([(h, 11)] * 2), (term, plain), None)], [])
    with pytest.raises(ValueError, match="start"):
        build_shard([], [ShardXorb(h, (ShardChunk(h, 5, 11),), 11)])
    with pytest.raises(ValueError, match="bytes_in_cas"):
        build_shard([], [ShardXorb(h, (ShardChunk(h, 0, 11),), 12)])
    with pytest.raises(ValueError, match="bookend"):
        build_shard([ShardFile(b"\xff" * 32, (), None)], [])
    # global-dedup answer (§7.4): empty file section, footer, keyed chunk hashes
    key = bytes(range(1, 33))
    xorb = ShardXorb(h, (ShardChunk(h, 0, 11),), 11)
    body = build_shard([], [xorb], with_footer=True, key_expiry=2_000_000_000, hmac_key=key)
    parsed = parse_shard(body)
    assert parsed.files == ()
    assert parsed.xorbs[0].chunks[0].hash == blake3.blake3(h, key=key).digest()
    footer = body[-200:]
    assert footer[72:104] == key
    created, expiry = struct.unpack_from("<QQ", footer, 104)
    assert created > 1_600_000_000 and expiry == 2_000_000_000
    assert struct.unpack_from("<Q", body, 40)[0] == 200
    # an empty file is written with the verification flag set, like hf_xet does
    empty = build_shard([ShardFile(ZERO_HASH, (), ZERO_HASH)], [])
    assert struct.unpack_from("<I", empty, 48 + 32)[0] == 0xC0000000


# ----------------------------------------------------------------------------------------------
# properties

_chunk_data = st.one_of(
    st.binary(min_size=1, max_size=600),
    st.tuples(st.integers(1, MAX_CHUNK_SIZE), st.integers(0, 2**32)).map(
        lambda t: random.Random(t[1]).randbytes(t[0])
    ),
    st.tuples(st.binary(min_size=1, max_size=16), st.integers(1, MAX_CHUNK_SIZE)).map(
        lambda t: (t[0] * (t[1] // len(t[0]) + 1))[: t[1]]
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=st.lists(_chunk_data, min_size=1, max_size=6), scheme=st.sampled_from([0, 1, 2]))
def test_xorb_round_trip(chunks: list[bytes], scheme: int) -> None:
    body = serialize_xorb(chunks, scheme)
    info = parse_xorb(body)
    assert info.hash == xorb_hash([(chunk_hash(c), len(c)) for c in chunks])
    assert info.chunk_sizes == tuple(len(c) for c in chunks)
    assert info.serialized_size == len(body)
    assert list(iter_chunk_data(body)) == chunks
    assert decode_chunk_table(info.hash, encode_chunk_table(info)) == info
    for c, data in zip(info.chunks, chunks):
        payload = body[c.compressed_start + 8 : c.compressed_end]
        assert decompress_chunk(scheme, payload, len(data)) == data


_hash = st.binary(min_size=32, max_size=32).filter(lambda b: b != b"\xff" * 32)
_u32 = st.integers(0, 2**32 - 1)


@st.composite
def _terms(draw: st.DrawFn, verified: bool) -> Term:
    start = draw(st.integers(0, 2**32 - 2))
    end = draw(st.integers(start + 1, 2**32 - 1))
    return Term(draw(_hash), draw(_u32), start, end, draw(_hash) if verified else None)


@st.composite
def _files(draw: st.DrawFn) -> ShardFile:
    verified = draw(st.booleans())
    terms = draw(st.lists(_terms(verified), max_size=4))
    return ShardFile(draw(_hash), tuple(terms), draw(st.none() | _hash))


@st.composite
def _xorbs(draw: st.DrawFn) -> ShardXorb:
    sizes = draw(st.lists(st.integers(0, 200_000), min_size=1, max_size=5))
    chunks, pos = [], 0
    for size in sizes:
        flags = draw(st.sampled_from([0, CHUNK_FLAG_GLOBAL_DEDUP]))
        chunks.append(ShardChunk(draw(_hash), pos, size, flags))
        pos += size
    return ShardXorb(draw(_hash), tuple(chunks), pos, draw(st.sampled_from([0, 0, 123])))


@settings(max_examples=80, deadline=None)
@given(files=st.lists(_files(), max_size=4), xorbs=st.lists(_xorbs(), max_size=4), footer=st.booleans())
def test_shard_round_trip(files: list[ShardFile], xorbs: list[ShardXorb], footer: bool) -> None:
    body = build_shard(files, xorbs, with_footer=footer, key_expiry=5, created_at=7)
    assert parse_shard(body) == Shard(tuple(files), tuple(xorbs))
    if footer:
        assert build_shard(files, xorbs) == _footerless_shard(body)
