"""``SinkResult``: what a sink wrote, and how much of it had to travel."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FileResult", "SinkResult", "human_bytes"]


def human_bytes(n: float) -> str:
    """``1234567`` -> ``'1.2 MB'`` (decimal units, as the Hub shows sizes)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class FileResult:
    """One file registered in a bucket.

    ``new_bytes`` are the file's bytes whose chunks were not already stored (they had to be
    uploaded, before compression); ``deduplicated_bytes = size - new_bytes``.
    """

    uri: str
    size: int
    xet_hash: str
    new_bytes: int
    rows: int | None = None

    @property
    def deduplicated_bytes(self) -> int:
        return self.size - self.new_bytes


@dataclass(frozen=True, slots=True)
class SinkResult:
    """What a sink call wrote: ``files`` lists every data file (URI, size, Xet hash, rows where known),
    in path order, for single-file and partitioned sinks alike.

    >>> result = hf_bucket_sink.sink_parquet(lf, "hf://buckets/me/b/x.parquet")
    >>> print(result)
    hf://buckets/me/b/x.parquet: 113.2 MB in 1 file, 2.1 s (53.9 MB/s); new 113.2 MB, deduplicated 0 B (0.0%), sent 113.4 MB
    """

    uri: str
    files: tuple[FileResult, ...]
    seconds: float
    #: bytes that crossed the network to Xet storage (xorbs after compression, plus shards)
    uploaded_bytes: int
    #: the ``_manifest.json`` of a partitioned output, when one was written (not part of ``files``)
    manifest: FileResult | None = None
    #: a directory overwrite: paths under the directory that no commit point listed (e.g. written by
    #: hand or by release 0.1), left in place (docs/commit-protocol.md)
    untracked: tuple[str, ...] = ()
    #: the commit id of a concurrent writer whose commit point replaced this one's, if one did
    superseded_by: str | None = None
    #: this writer's files that a concurrent winner does not list and that could not be removed
    unlisted: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Total bytes of the files written."""
        return sum(f.size for f in self.files)

    @property
    def xet_hash(self) -> str | None:
        """The Xet hash of the file when exactly one was written."""
        return self.files[0].xet_hash if len(self.files) == 1 else None

    @property
    def new_bytes(self) -> int:
        return sum(f.new_bytes for f in self.files)

    @property
    def deduplicated_bytes(self) -> int:
        return self.size - self.new_bytes

    @property
    def dedup_ratio(self) -> float:
        """Share of the written bytes that did not need uploading (0.0 - 1.0)."""
        return self.deduplicated_bytes / self.size if self.size else 0.0

    @property
    def rows(self) -> int | None:
        counts = [f.rows for f in self.files]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    def __str__(self) -> str:
        rate = self.size / self.seconds if self.seconds > 0 else 0.0
        n = len(self.files)
        return (
            f"{self.uri}: {human_bytes(self.size)} in {n} file{'s' if n != 1 else ''}, {self.seconds:.1f} s "
            f"({human_bytes(rate)}/s); new {human_bytes(self.new_bytes)}, deduplicated {human_bytes(self.deduplicated_bytes)} "
            f"({100 * self.dedup_ratio:.1f}%), sent {human_bytes(self.uploaded_bytes)}"
        )
