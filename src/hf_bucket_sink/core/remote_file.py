"""Read side of a bucket file: byte-range transports and ``RemoteFile``, a seekable read-only file.

Two transports fetch ``[start, end)`` of a bucket file:

- :class:`ResolveRanges`: one ``GET {endpoint}/buckets/<ns>/<b>/resolve/<path>`` with ``Range`` per
  read (hub-bucket-api.md §4.12). The Hub serves (or, in production, redirects to a CDN that serves)
  exactly the requested bytes, so a read costs its own size plus one round trip.
- :class:`XetRanges`: an ``hf_xet`` download stream with ``start``/``end``. hf_xet asks CAS for the
  reconstruction of the range, then fetches whole compressed *chunks* (~64 KiB) from xorbs: every
  range is rounded out to chunk boundaries, and every read pays the reconstruction round trip too.

``RemoteFile`` turns either into a seekable binary file for pyarrow's Parquet reader, which asks
for the footer and then for exactly the column chunks a query needs::

    hub = HubClient(resolve_credentials(storage_options))
    entry = RemoteEntry("me/b", "data/x.parquet", size=..., xet_hash=...)
    with RemoteFile(entry, ResolveRanges(hub)) as f:
        pyarrow.parquet.ParquetFile(f).read(columns=["a"])   # footer + column "a" only

docs/architecture.md ("Read path") records why :class:`ResolveRanges` is the default for ranges and
hf_xet is used for whole files (:meth:`XetRanges.download_to`).
"""

from __future__ import annotations

import io
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from collections.abc import Iterator
from typing import Any, Protocol

from hf_bucket_sink.errors import BucketFileNotFoundError, FileVersionGoneError, HubResponseError, InvalidOptionError
from hf_bucket_sink.core.hub import HubClient, XetAccess
from hf_bucket_sink.core.paths import BUCKET_URI_PREFIX

__all__ = ["RemoteEntry", "RangeTransport", "ResolveRanges", "XetRanges", "RemoteFile", "BlockCache", "RangeStore", "TransferCounter", "coalesce", "windows", "MIN_FETCH", "STREAM_WINDOW"]

logger = logging.getLogger("hf_bucket_sink")

#: smallest read sent over the network: pyarrow reads the footer length (8 bytes) and then the
#: footer, small reads in a row; one 64 KiB fetch answers both without a second round trip
MIN_FETCH = 64 * 1024
#: bytes per range of a streamed whole-file read (:meth:`XetRanges.blocks`); two are held at a time
STREAM_WINDOW = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RemoteEntry:
    """One file of a bucket listing: where it is, how large it is, and its Xet hash."""

    bucket_id: str
    path: str
    size: int
    xet_hash: str

    @property
    def uri(self) -> str:
        return f"{BUCKET_URI_PREFIX}{self.bucket_id}/{self.path}"

    @classmethod
    def from_listing(cls, bucket_id: str, item: dict[str, Any]) -> RemoteEntry:
        """Build from a tree / paths-info file entry (hub-bucket-api.md §4.8)."""
        try:
            return cls(bucket_id, str(item["path"]), int(item["size"]), str(item["xetHash"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise HubResponseError(
                f"A listing of bucket {bucket_id!r} had a file entry without path/size/xetHash ({str(item)[:120]}). "
                "Check the endpoint points at a Hub that supports Storage Buckets."
            ) from exc


class TransferCounter:
    """Bytes and requests a transport sent over the network (thread-safe); used by tests and benchmarks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes = 0
        self.requests = 0

    def add(self, nbytes: int) -> None:
        with self._lock:
            self.bytes += nbytes
            self.requests += 1


class RangeTransport(Protocol):
    """Something that returns bytes ``[start, end)`` of a bucket file."""

    counter: TransferCounter

    def read(self, entry: RemoteEntry, start: int, end: int) -> bytes: ...


class ResolveRanges:
    """Ranged ``GET …/resolve/…`` requests through :class:`~hf_bucket_sink.core.hub.HubClient` (typed errors),
    pinned to the listed version.

    The resolve URL goes by path, so a file overwritten after the listing would hand over bytes of the
    new version. Every answer names the version it serves (``X-Xet-Hash``); when that is not
    ``entry.xet_hash``, this and every later read of the entry go by hash through :class:`XetRanges`,
    which returns the listed version whole as long as Xet storage holds it
    (:class:`~hf_bucket_sink.errors.FileVersionGoneError` once it does not). An unchanged file costs
    nothing extra.

    The Hub answers a resolve with a redirect to a signed URL on its CDN, which names the version's
    hash. Once a redirect for the listed version has been checked, later ranges of that version are
    read from the signed URL directly: one request per range instead of two (a Parquet scan makes
    one per column chunk). A refused signed URL (expired) sends the next read through the Hub again.
    """

    def __init__(self, hub: HubClient) -> None:
        self.hub = hub
        self.counter = TransferCounter()
        self._by_hash: XetRanges | None = None
        self._moved: set[tuple[str, str, str]] = set()
        # signed CDN URL per listed version, from the Hub's first redirect for it
        self._signed: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    def _xet(self) -> XetRanges:
        with self._lock:
            if self._by_hash is None:
                self._by_hash = XetRanges(self.hub)
                self._by_hash.counter = self.counter
            return self._by_hash

    def read(self, entry: RemoteEntry, start: int, end: int) -> bytes:
        key = (entry.bucket_id, entry.path, entry.xet_hash)
        if key not in self._moved:
            with self._lock:
                signed = self._signed.get(key)
            if signed is not None:
                # the CDN URL the Hub redirected this version to: one request per range, not two
                data = self.hub.read_signed_range(signed, start, end, bucket_id=entry.bucket_id, path=entry.path)
                if data is not None:
                    self.counter.add(len(data))
                    return data
                with self._lock:  # refused (expired): ask the resolve route again
                    if self._signed.get(key) == signed:
                        del self._signed[key]
            answer = self.hub.fetch_range(entry.bucket_id, entry.path, start, end, xet_hash=entry.xet_hash)
            if answer.data is not None:
                if answer.signed_url is not None:
                    with self._lock:
                        self._signed[key] = answer.signed_url
                self.counter.add(len(answer.data))
                return answer.data
            logger.info("%s changed since it was listed: reading the listed version by its Xet hash", entry.uri)
            self._moved.add(key)
        return self._xet().read(entry, start, end)


class XetRanges:
    """Byte ranges and whole files through one ``hf_xet`` download stream group per bucket.

    The group is seeded with a read token from the Hub (the preflight that proves access) and
    refreshes it through the Hub's ``xet-read-token`` route, like the upload side.
    """

    def __init__(self, hub: HubClient) -> None:
        self.hub = hub
        self.counter = TransferCounter()
        self._groups: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _group(self, bucket_id: str) -> Any:
        with self._lock:
            group = self._groups.get(bucket_id)
            if group is None:
                from hf_bucket_sink.core.xet import xet_session

                access: XetAccess = self.hub.xet_token(bucket_id, write=False)
                group = self._groups[bucket_id] = xet_session().new_download_stream_group(
                    endpoint=access.cas_url,
                    token=access.access_token,
                    token_expiry_unix_secs=access.expires_at,
                    token_refresh_url=access.refresh_url,
                    token_refresh_headers=self.hub.headers(),
                    custom_headers=self.hub.headers(auth=False),
                )
            return group

    def _gone(self, entry: RemoteEntry, cause: str) -> FileVersionGoneError:
        return FileVersionGoneError(
            f"The version of {entry.uri} that the scan listed (Xet hash {entry.xet_hash[:12]}…) is gone from "
            f"Xet storage ({cause}): the file was overwritten or deleted and its old data removed. No byte of "
            "another version was read. Run the query again to read the current version."
        )

    def _short(self, entry: RemoteEntry, got: int, expected: int, what: str) -> BaseException:
        """The error for a stream that ended early: hf_xet 1.8 sometimes ends the stream of a version
        CAS no longer has with no error and no bytes, so CAS is asked whether it has the version."""
        import httpx2
        from huggingface_hub.utils import http_backoff

        access = self.hub.xet_token(entry.bucket_id, write=False)
        try:
            probe = http_backoff(
                "GET", f"{access.cas_url}/v1/reconstructions/{entry.xet_hash}",
                headers={**self.hub.headers(auth=False), "Authorization": f"Bearer {access.access_token}", "Range": "bytes=0-0"},
                max_retries=1,
            )
            status = probe.status_code
        except httpx2.HTTPError as exc:
            return HubResponseError(f"{what} {entry.uri} through Xet gave {got} of {expected} bytes, and CAS could not be asked why ({exc}). Retry.")
        if status == 404:
            return self._gone(entry, f"{what} gave {got} of {expected} bytes; CAS answers 404 for the hash")
        return HubResponseError(f"{what} {entry.uri} through Xet gave {got} bytes, expected {expected} (CAS answers {status}). Retry.")

    def _stream(self, entry: RemoteEntry, start: int | None, end: int | None) -> Iterator[bytes]:
        import hf_xet

        try:
            # iterate here: hf_xet may raise "not found" on the first block rather than on the call
            yield from self._group(entry.bucket_id).download_stream(hf_xet.XetFileInfo(entry.xet_hash, entry.size), start=start, end=end)
        except Exception as exc:
            if not _version_gone(exc, entry.xet_hash):
                raise
            raise self._gone(entry, str(exc)) from exc

    def read(self, entry: RemoteEntry, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        try:
            data = b"".join(self._stream(entry, start, end))
        except BucketFileNotFoundError:
            raise
        except Exception as exc:  # hf_xet raises RuntimeError / its own classes for network failures
            raise HubResponseError(f"Reading bytes {start}-{end} of {entry.uri} through Xet failed: {exc}. Retry.") from exc
        expected = min(end, entry.size) - start
        if len(data) != expected:  # never hand a short read to a parser: a torn or missing version
            raise self._short(entry, len(data), expected, f"Reading bytes {start}-{end} of")
        self.counter.add(len(data))
        return data

    def blocks(self, entry: RemoteEntry, window: int | None = None) -> Iterator[bytes]:
        """The whole file at the listed hash in ranges read one ahead: :func:`windows` over this transport."""
        return windows(self, entry, window)

    def download_to(self, entry: RemoteEntry, target: str | os.PathLike[str]) -> None:
        """Write the whole file to ``target`` (hf_xet fetches xorb ranges in parallel, deduplicated)."""
        written = 0
        try:
            with open(target, "wb") as out:
                for block in self._stream(entry, None, None):
                    out.write(block)
                    written += len(block)
        except (BucketFileNotFoundError, OSError):  # ours, or the local disk (full, permissions)
            raise
        except Exception as exc:  # hf_xet's network failures
            raise HubResponseError(f"Downloading {entry.uri} through Xet failed: {exc}. Retry.") from exc
        if written != entry.size:
            raise self._short(entry, written, entry.size, "Downloading")
        self.counter.add(written)


def windows(transport: RangeTransport, entry: RemoteEntry, window: int | None = None) -> Iterator[bytes]:
    """The whole file at the listed hash, in ``window``-byte ranges read one ahead (for streamed parsing).

    Memory is two windows whatever the file size. hf_xet's whole-file stream reads ahead as fast as
    the network allows, so a parser slower than loopback held ~all of a 1.1 GB CSV (measured,
    docs/benchmarks-read.md); hf_xet range reads also held whole xorbs (~170 MB over the window for a
    138 MB file), so the scan passes :class:`ResolveRanges` here (exact ranged GETs, pinned to the
    hash). The next window downloads while the caller parses this one; the helper thread ends with
    the generator (closed early, exhausted or failed).
    """
    from concurrent.futures import ThreadPoolExecutor

    window = window or STREAM_WINDOW
    if entry.size == 0:
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-bucket-stream")
    ahead = pool.submit(transport.read, entry, 0, min(window, entry.size))
    try:
        for start in range(0, entry.size, window):
            block = ahead.result()
            following = start + window
            if following < entry.size:
                ahead = pool.submit(transport.read, entry, following, min(following + window, entry.size))
            yield block
    finally:
        ahead.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _version_gone(exc: BaseException, xet_hash: str) -> bool:
    """Whether hf_xet failed because CAS has no reconstruction for ``xet_hash`` (the version is gone).

    hf_xet 1.8 raises ``XetObjectNotFoundError`` for some of these and a generic error naming the
    404 of ``/reconstructions/<hash>`` for others; both mean the same."""
    import hf_xet

    text = str(exc)
    return isinstance(exc, hf_xet.XetObjectNotFoundError) or ("404" in text and f"reconstructions/{xet_hash}" in text)


class BlockCache:
    """The last small-read block of each file, shared by every :class:`RemoteFile` of one scan.

    A dataset scan opens a file twice (schema inspection, then the read) and reads its footer
    each time; sharing the footer block makes the second read free. At most ``max_files``
    blocks of :data:`MIN_FETCH` bytes are kept (least recently used dropped).
    """

    def __init__(self, max_files: int = 256) -> None:
        self.max_files = max_files
        self._blocks: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, start: int, end: int) -> bytes | None:
        with self._lock:
            held = self._blocks.get(key)
            if held is None or not (held[0] <= start and end <= held[0] + len(held[1])):
                return None
            self._blocks.move_to_end(key)
            return held[1][start - held[0] : end - held[0]]

    def put(self, key: str, start: int, block: bytes) -> None:
        with self._lock:
            self._blocks[key] = (start, block)
            self._blocks.move_to_end(key)
            while len(self._blocks) > self.max_files:
                self._blocks.popitem(last=False)


def coalesce(ranges: list[tuple[int, int]], hole: int) -> list[tuple[int, int]]:
    """``[start, end)`` ranges sorted and merged where less than ``hole`` bytes lie between them
    (one request then costs less than two: the bytes of the hole against a round trip)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start - out[-1][1] < hole:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


class RangeStore:
    """Byte ranges fetched ahead of the reader that will ask for them (thread-safe).

    A Parquet scan fetches the column chunks of the next row groups concurrently while earlier
    ones decode, puts them here, and drops them once decoded; :class:`RemoteFile` serves a read
    from here when stored ranges cover it, else fetches it. Memory is what the scan put and has not
    dropped, which the scan bounds (polars/scans.py, ``_READ_AHEAD``)."""

    def __init__(self) -> None:
        self._ranges: dict[str, dict[int, bytes]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, start: int, data: bytes) -> None:
        with self._lock:
            self._ranges.setdefault(key, {})[start] = data

    def drop(self, key: str, starts: Iterator[int] | list[int]) -> None:
        with self._lock:
            held = self._ranges.get(key)
            if held is None:
                return
            for start in starts:
                held.pop(start, None)
            if not held:
                del self._ranges[key]

    def held_bytes(self) -> int:
        with self._lock:
            return sum(len(d) for held in self._ranges.values() for d in held.values())

    def get(self, key: str, start: int, end: int) -> bytes | None:
        """Bytes ``[start, end)`` if stored ranges cover them (joined across adjacent ranges), else None."""
        with self._lock:
            held = self._ranges.get(key)
            if not held:
                return None
            pieces = []
            pos = start
            for begin in sorted(held):
                data = held[begin]
                if begin + len(data) <= pos:
                    continue
                if begin > pos:
                    return None  # a gap: not covered
                pieces.append(data[pos - begin : min(end, begin + len(data)) - begin])
                pos = begin + len(data)
                if pos >= end:
                    return b"".join(pieces) if len(pieces) > 1 else pieces[0]
            return None


class RemoteFile(io.RawIOBase):
    """A seekable, read-only binary file over one bucket file; each read is one ranged fetch.

    Reads of at most :data:`MIN_FETCH` bytes fetch ``MIN_FETCH`` bytes and keep them, so the small
    reads a reader makes in a row (footer length, then footer) cost one request. Nothing else is
    cached: memory held is one ``MIN_FETCH`` block per file in ``blocks`` plus the caller's buffer.
    """

    def __init__(
        self, entry: RemoteEntry, transport: RangeTransport, blocks: BlockCache | None = None, prefetched: RangeStore | None = None
    ) -> None:
        super().__init__()
        self.entry = entry
        self.transport = transport
        self._pos = 0
        self._blocks = blocks if blocks is not None else BlockCache(max_files=1)
        self._prefetched = prefetched

    @property
    def name(self) -> str:
        return self.entry.uri

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def size(self) -> int:
        """File size, known from the listing (pyarrow asks for it before reading the footer)."""
        return self.entry.size

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.entry.size + offset
        else:
            raise InvalidOptionError(f"seek whence must be 0, 1 or 2, not {whence!r}")
        if pos < 0:
            raise InvalidOptionError(f"cannot seek to {pos} (before the start of {self.entry.uri})")
        self._pos = pos
        return pos

    def read_at(self, nbytes: int, offset: int) -> bytes:
        """``nbytes`` from ``offset`` without moving the position (pyarrow's random-access call)."""
        end = min(offset + max(nbytes, 0), self.entry.size)
        if end <= offset:
            return b""
        key = self.entry.uri
        cached = self._blocks.get(key, offset, end)
        if cached is None and self._prefetched is not None:
            cached = self._prefetched.get(key, offset, end)
        if cached is not None:
            return cached
        if end - offset > MIN_FETCH:
            return self.transport.read(self.entry, offset, end)
        # a small read (pyarrow's footer read is exactly 64 KiB): fetch a MIN_FETCH window, aligned to the end of the file when near it
        start = max(0, min(offset, self.entry.size - MIN_FETCH))
        block = self.transport.read(self.entry, start, min(start + MIN_FETCH, self.entry.size))
        self._blocks.put(key, start, block)
        return block[offset - start : end - start]

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self.entry.size - self._pos
        data = self.read_at(size, self._pos)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(view.nbytes)
        view[: len(data)] = data
        return len(data)
