"""Xet hashes: chunk, xorb, file and term-verification hashes, and their string form.

Everything here follows the Xet CAS reference (``xet-cas-protocol.md`` §1.1 and §8). All hashes are
32 raw bytes ("wire order", as they appear inside xorbs and shards); :func:`hash_to_hex` renders
them the way URLs, JSON and file names do, and :func:`hex_to_hash` parses that form back.

Example::

    >>> from hf_bucket_sink.localhub.hashing import chunk_hash, file_hash, hash_to_hex
    >>> h = chunk_hash(b"hello world")
    >>> hash_to_hex(h)
    '4e39378b9d359f118190557a1f44130219a54e5fcfa07bd96cf50b466fe651b1'
    >>> hash_to_hex(file_hash([(h, 11)]))
    'f15edd43b7e85cfd25e2758ffe13b99fdd09dfa817e8d9f6548722a7a126db7f'
"""

from __future__ import annotations

import re
import struct
from array import array
from collections.abc import Sequence

import blake3

__all__ = [
    "DATA_KEY",
    "INTERNAL_NODE_KEY",
    "VERIFICATION_KEY",
    "ZERO_HASH",
    "chunk_hash",
    "file_hash",
    "hash_to_hex",
    "hex_to_hash",
    "merkle_root",
    "verification_hash",
    "xorb_hash",
]

# §8.1: key of the chunk hash (BLAKE3 keyed mode).
DATA_KEY: bytes = bytes(
    [102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28,
     157, 228, 33, 16, 155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41]
)  # fmt: skip
# §8.2: key of the Merkle interior nodes.
INTERNAL_NODE_KEY: bytes = bytes(
    [1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230,
     93, 221, 83, 111, 55, 199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63]
)  # fmt: skip
# §8.5: key of the per-term verification hash stored in shards.
VERIFICATION_KEY: bytes = bytes(
    [127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243,
     164, 205, 38, 213, 181, 219, 73, 230, 65, 36, 152, 127, 40, 251, 148, 195]
)  # fmt: skip

#: The all-zero hash: Merkle root of nothing, and the file hash of an empty file.
ZERO_HASH: bytes = bytes(32)

# §8.4 hashes the Merkle root once more with an all-zero key.
_FILE_KEY = ZERO_HASH

_HASH = struct.Struct("<4Q")
# ASCII only: str.isdigit()/int(s, 16) would also take "_", "+", whitespace or non-ASCII digits.
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
# A Merkle group is cut at most this many nodes wide (§8.2).
_MAX_GROUP = 9


def hash_to_hex(h: bytes) -> str:
    """Render a 32-byte hash as 64 hex digits: four little-endian u64 values, in order (§1.1)."""
    if len(h) != 32:
        raise ValueError(f"a Xet hash is 32 bytes, got {len(h)}")
    return "%016x%016x%016x%016x" % _HASH.unpack(h)


def hex_to_hash(s: str) -> bytes:
    """Parse the §1.1 string form (upper or lower case) back into the 32 wire bytes.

    Raises ``ValueError`` for anything but exactly 64 ASCII hex digits.
    """
    if not isinstance(s, str) or _HEX64.fullmatch(s) is None:
        raise ValueError(f"not a Xet hash (64 hex digits expected): {s!r:.80}")
    return _HASH.pack(int(s[0:16], 16), int(s[16:32], 16), int(s[32:48], 16), int(s[48:64], 16))


def chunk_hash(data: bytes | memoryview) -> bytes:
    """Hash of one chunk's uncompressed data (§8.1)."""
    return blake3.blake3(data, key=DATA_KEY).digest()


def merkle_root(leaves: Sequence[tuple[bytes, int]]) -> bytes:
    """Aggregate ``(hash, size)`` leaves with Xet's variable fan-out Merkle tree (§8.2).

    ``[]`` gives 32 zero bytes and a single leaf gives its own hash.
    """
    if not leaves:
        return ZERO_HASH
    hashes = [h for h, _ in leaves]
    sizes = [size for _, size in leaves]
    for h, size in leaves:
        if len(h) != 32 or size < 0:
            raise ValueError("Merkle leaves must be (32-byte hash, non-negative size) pairs")
    while len(hashes) > 1:
        # Render the whole level at once: byte-swapping every u64 and hex-encoding the lot is
        # the §1.1 form of each hash, at C speed instead of one format call per node.
        words = array("Q", b"".join(hashes))
        words.byteswap()
        hex_all = words.tobytes().hex()
        lines = [f"{hex_all[64 * k : 64 * k + 64]} : {size}\n" for k, size in enumerate(sizes)]
        next_hashes: list[bytes] = []
        next_sizes: list[int] = []
        i = 0
        count = len(hashes)
        while i < count:
            remaining = count - i
            if remaining <= 2:
                take = remaining
            else:
                take = min(_MAX_GROUP, remaining)
                for j in range(2, take):
                    # u64_le(hash[24:32]) % 4 == 0 only depends on the low two bits of byte 24.
                    if hashes[i + j][24] & 3 == 0:
                        take = j + 1
                        break
            text = "".join(lines[i : i + take]).encode("ascii")
            next_hashes.append(blake3.blake3(text, key=INTERNAL_NODE_KEY).digest())
            next_sizes.append(sum(sizes[i : i + take]))
            i += take
        hashes, sizes = next_hashes, next_sizes
    return hashes[0]


def xorb_hash(chunks: Sequence[tuple[bytes, int]]) -> bytes:
    """Xorb hash: the Merkle root over the xorb's ``(chunk hash, size)`` list in xorb order (§8.3)."""
    return merkle_root(chunks)


def file_hash(chunks: Sequence[tuple[bytes, int]]) -> bytes:
    """File hash over every chunk of the file in file order (§8.4); an empty file hashes to zeros."""
    if not chunks:
        return ZERO_HASH
    return blake3.blake3(merkle_root(chunks), key=_FILE_KEY).digest()


def verification_hash(chunk_hashes: Sequence[bytes]) -> bytes:
    """Term verification hash over the raw hashes of the term's chunks (§8.5)."""
    for h in chunk_hashes:
        if len(h) != 32:
            raise ValueError(f"chunk hashes are 32 bytes, got {len(h)}")
    return blake3.blake3(b"".join(chunk_hashes), key=VERIFICATION_KEY).digest()
