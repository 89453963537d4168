"""``hf-bucket-sink ls`` and ``du``: what is in a bucket, how big it is, and how much is deduplicated.

Both read the bucket's tree (``HubClient.list_tree``). Dedup is shown where it is *known*:

- identical files (same Xet hash) in the listing are stored once: known from the listing itself;
- chunk-level dedup is not reported per bucket by the Hub; a local Hub (``hf-bucket-sink serve``)
  answers ``GET /_localhub/stats`` with the logical bytes of every file and the bytes stored for
  the whole Hub, which ``du`` shows. Against any other Hub it says "unknown".
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hf_bucket_sink.core.credentials import DEFAULT_ENDPOINT, resolve_credentials
from hf_bucket_sink.cli.common import human_bytes, one_line_errors, storage_options
from hf_bucket_sink.errors import BucketFileNotFoundError, InvalidBucketPathError
from hf_bucket_sink.core.paths import BUCKET_URI_PREFIX, BucketPath, is_bucket_uri

if TYPE_CHECKING:
    from hf_bucket_sink.core.hub import HubClient

__all__ = [
    "configure_parser",
    "run",
    "configure_du_parser",
    "run_du",
    "LS_DESCRIPTION",
    "LS_EPILOG",
    "DU_DESCRIPTION",
    "DU_EPILOG",
]

LS_DESCRIPTION = """\
List the files and folders of a Storage Bucket, or of a folder in it (paths relative to it)."""

LS_EPILOG = """\
examples:
  hf-bucket-sink ls hf://buckets/me/data
  hf-bucket-sink ls -l hf://buckets/me/data/flights/          # sizes and upload times
  hf-bucket-sink ls -lR hf://buckets/me/data                  # every file below, with a total
  hf-bucket-sink ls -R --json hf://buckets/me/data | jq '.[].size'

Exit code 0 on success, 1 with a one-line message (e.g. a bucket that does not exist)."""

DU_DESCRIPTION = """\
Sizes and file counts of a bucket (or folder) and of each entry directly in it, plus what is
known about deduplication: identical files (same Xet hash) are stored once; chunk-level dedup
for the whole Hub is shown when the Hub reports it (the local Hub does), else "unknown"."""

DU_EPILOG = """\
examples:
  hf-bucket-sink du hf://buckets/me/data
  hf-bucket-sink du -s hf://buckets/me/data/flights/
  hf-bucket-sink du --json hf://buckets/me/data

Exit code 0 on success, 1 with a one-line message."""


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("uri", metavar="URI", help="hf://buckets/<namespace>/<bucket>[/<folder or file>]")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("--endpoint", default=None, help="Hub URL (default: HF_ENDPOINT, then https://huggingface.co)")
    parser.add_argument("--token", default=None, help="Hugging Face token (default: HF_TOKEN, then `hf auth login`'s)")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add ``ls``'s arguments to ``parser``."""
    _add_common(parser)
    parser.add_argument("-l", "--long", action="store_true", help="show size and upload time, and a total")
    parser.add_argument("-R", "--recursive", action="store_true", help="list every file below, not only direct entries")


def configure_du_parser(parser: argparse.ArgumentParser) -> None:
    """Add ``du``'s arguments to ``parser``."""
    _add_common(parser)
    parser.add_argument("-s", "--summarize", action="store_true", help="print only the total")


def _parse(uri: str) -> BucketPath:
    if not is_bucket_uri(uri):
        raise InvalidBucketPathError(
            f"{uri!r} is not a bucket URI: expected hf://buckets/<namespace>/<bucket>[/<path>] (the scheme is case-sensitive)."
        )
    return BucketPath.parse(uri, kind="any")


def _listing(client: HubClient, location: BucketPath, *, recursive: bool) -> tuple[str, list[dict[str, Any]]]:
    """(folder prefix the entries are relative to, entries) for a bucket, a folder or one file."""
    bucket = location.bucket_id
    if location.path and not location.is_dir:
        exact = client.paths_info(bucket, [location.path])
        if exact:  # a file: list it alone, relative to its folder
            return location.path.rsplit("/", 1)[0] + "/" if "/" in location.path else "", exact
    prefix = location.path if location.is_dir else location.path + "/"
    entries = list(client.list_tree(bucket, prefix, recursive=recursive))
    if prefix and not entries:
        raise BucketFileNotFoundError(
            f"Nothing in bucket {bucket!r} under {prefix!r}. List the bucket with `hf-bucket-sink ls {BUCKET_URI_PREFIX}{bucket}`."
        )
    return prefix, entries


def _when(entry: Mapping[str, Any]) -> str:
    stamp = str(entry.get("mtime") or entry.get("uploadedAt") or "")
    return stamp[:19].replace("T", " ") if stamp else "-"


@one_line_errors
def run(args: argparse.Namespace) -> int:
    """Run ``ls``; returns 0."""
    from hf_bucket_sink.core.hub import HubClient

    location = _parse(args.uri)
    client = HubClient(resolve_credentials(storage_options(args)))
    prefix, entries = _listing(client, location, recursive=args.recursive)
    rows = []
    for entry in sorted(entries, key=lambda e: str(e.get("path", ""))):
        path = str(entry.get("path", ""))
        is_dir = entry.get("type") == "directory"
        rows.append(
            {
                "uri": f"{BUCKET_URI_PREFIX}{location.bucket_id}/{path}" + ("/" if is_dir else ""),
                "path": path[len(prefix) :] + ("/" if is_dir else ""),
                "type": "directory" if is_dir else "file",
                "size": None if is_dir else int(entry.get("size", 0)),
                "xet_hash": entry.get("xetHash"),
                "uploaded_at": entry.get("mtime") or entry.get("uploadedAt"),
            }
        )
    if args.json:
        print(json.dumps(rows), flush=True)
        return 0
    if not args.long:
        print("\n".join(r["path"] for r in rows), flush=bool(rows))
        return 0
    files = [r for r in rows if r["type"] == "file"]
    width = max([len(f"{r['size']:,}") for r in files] + [1])
    for row, entry in zip(rows, sorted(entries, key=lambda e: str(e.get("path", ""))), strict=True):
        size = "-" if row["size"] is None else f"{row['size']:,}"
        print(f"{size:>{width}}  {_when(entry):<19}  {row['path']}")
    total = sum(r["size"] for r in files)
    folders = len(rows) - len(files)
    more = f", {folders} folder{'s' if folders != 1 else ''} (sizes: `du`)" if folders else ""
    print(f"total: {len(files)} file{'s' if len(files) != 1 else ''}, {total:,} bytes ({human_bytes(total)}){more}", flush=True)
    return 0


def _hub_stats(endpoint: str) -> dict[str, int] | None:
    """Logical vs stored bytes for the whole Hub, when it reports them (the local Hub's admin route)."""
    if endpoint.rstrip("/") == DEFAULT_ENDPOINT:
        return None  # the public Hub has no such route: save the round trip
    try:
        with urllib.request.urlopen(f"{endpoint}/_localhub/stats", timeout=5) as response:  # noqa: S310 - http(s) only (auth checks it)
            body = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None  # not a local Hub, or it does not answer: dedup stays "unknown"
    catalog = body.get("catalog") if isinstance(body, dict) else None
    if not isinstance(catalog, dict):
        return None
    logical, stored, raw = catalog.get("file_bytes"), catalog.get("xorb_bytes"), catalog.get("xorb_raw_bytes")
    if not all(isinstance(v, int) for v in (logical, stored)):
        return None
    out = {"logical_bytes": int(logical), "stored_bytes": int(stored)}  # type: ignore[arg-type]
    if isinstance(raw, int):
        out["stored_chunk_bytes"] = raw
    return out


@one_line_errors
def run_du(args: argparse.Namespace) -> int:
    """Run ``du``; returns 0."""
    from hf_bucket_sink.core.hub import HubClient

    location = _parse(args.uri)
    creds = resolve_credentials(storage_options(args))
    client = HubClient(creds)
    prefix, entries = _listing(client, location, recursive=True)
    files = [e for e in entries if e.get("type", "file") == "file"]
    children: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    duplicate_files = duplicate_bytes = 0
    for entry in sorted(files, key=lambda e: str(e.get("path", ""))):
        relative = str(entry["path"])[len(prefix) :]
        head, sep, _ = relative.partition("/")
        name = head + sep
        child = children.setdefault(name, {"path": name, "files": 0, "size": 0})
        child["files"] += 1
        child["size"] += int(entry.get("size", 0))
        digest = entry.get("xetHash")
        if digest:
            if digest in seen:  # same content as a file listed before: Xet stores it once
                duplicate_files += 1
                duplicate_bytes += int(entry.get("size", 0))
            seen.add(digest)
    total_size = sum(c["size"] for c in children.values())
    shown = f"{BUCKET_URI_PREFIX}{location.bucket_id}/{prefix}"
    hub = _hub_stats(creds.endpoint)
    if args.json:
        print(
            json.dumps(
                {
                    "uri": shown,
                    "files": len(files),
                    "size": total_size,
                    "children": sorted(children.values(), key=lambda c: c["path"]),
                    "identical_files": duplicate_files,
                    "identical_file_bytes": duplicate_bytes,
                    "hub": hub,
                }
            ),
            flush=True,
        )
        return 0

    def line(size: int, count: int, name: str) -> str:
        return f"{human_bytes(size):>9}  {count:>7,} file{'s' if count != 1 else ' '}  {name}"

    lines = [] if args.summarize else [line(c["size"], c["files"], c["path"]) for c in sorted(children.values(), key=lambda c: c["path"])]
    lines.append(line(total_size, len(files), f"{shown}  (total)"))
    lines.append(
        f"identical files: {duplicate_files} (same Xet hash as another file here, stored once: {human_bytes(duplicate_bytes)})"
    )
    if hub is None:
        lines.append("chunk dedup: unknown (the Hub does not report stored bytes; per-upload figures: `cp --json`)")
    else:
        logical, stored = hub["logical_bytes"], hub["stored_bytes"]
        saved = 1 - stored / logical if logical else 0.0
        lines.append(
            f"chunk dedup, whole Hub: {human_bytes(logical)} of files stored in {human_bytes(stored)} "
            f"({100 * saved:.1f}% saved by dedup and compression)"
        )
    print("\n".join(lines), flush=True)
    return 0
