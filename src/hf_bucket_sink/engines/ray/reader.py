"""Ray Data out of a Storage Bucket: :func:`read_bucket`, a ``ray.data.Dataset`` over bucket files."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hf_bucket_sink.core.credentials import resolve_credentials
from hf_bucket_sink.core.hub import HubClient
from hf_bucket_sink.engines.ray.arrow_fs import bucket_filesystem
from hf_bucket_sink.engines.ray.formats import Format, check_format

if TYPE_CHECKING:
    from ray.data import Dataset

__all__ = ["read_bucket"]


def read_bucket(
    source: str | Sequence[str],
    *,
    format: Format = "parquet",
    storage_options: Mapping[str, Any] | None = None,
    token_provider: Callable[[], str] | None = None,
    **read_options: Any,
) -> Dataset:
    """A Ray ``Dataset`` over bucket files: a file, a folder, a glob (``**`` spans folders), or a list.

    >>> ds = read_bucket("hf://buckets/me/b/out/", format="parquet", columns=["id"])
    >>> ds = read_bucket("hf://buckets/me/b/logs/**/*.jsonl", format="ndjson")

    Lists on the driver (hidden names such as ``_manifest.json`` skipped, as the Polars scans do),
    then calls ``ray.data.read_parquet`` / ``read_csv`` / ``read_json`` (one row per line) with
    ``read_options`` and a :func:`bucket_filesystem` holding the listing: Parquet tasks range-read
    only the columns and row groups they need. Workers resolve the token as for the datasink.
    """
    import ray.data

    from hf_bucket_sink.polars.scans import list_sources

    check_format(format, "read_bucket")
    hub = HubClient(resolve_credentials(storage_options))
    sources = list_sources(hub, source, format, glob=True, hidden=(".", "_"))
    fs = bucket_filesystem(sources.files, endpoint=hub.creds.endpoint, token_provider=token_provider)
    paths = [f"{e.bucket_id}/{e.path}" for e in sources.files]
    if format == "parquet":
        return ray.data.read_parquet(paths, filesystem=fs, **read_options)
    if format == "csv":
        return ray.data.read_csv(paths, filesystem=fs, **read_options)
    # Ray's pyarrow JSON reader reads newline-delimited JSON (``lines=True`` selects a pandas
    # reader that refuses a filesystem)
    return ray.data.read_json(paths, filesystem=fs, **read_options)

