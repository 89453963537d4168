"""CSV / NDJSON streamed (issue 18.3): the same frame as Polars reading the same bytes, read in many
small pieces (records cut across pieces, quoted newlines), gzip included, with no temporary copy."""

from __future__ import annotations

import gzip
import io
import tempfile
from collections.abc import Iterator
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)
import pytest
from huggingface_hub import HfApi

import hf_bucket_sink
from hf_bucket_sink.localhub import LocalHub
from hf_bucket_sink.polars import text_stream


def frame(n: int = 3_000) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": pl.int_range(n, eager=True),
            # commas, quotes and newlines inside quoted fields: a boundary must not fall inside them
            "text": [f'line {i}, "quoted"\nsecond line' if i % 7 == 0 else f"plain {i}" for i in range(n)],
            "x": [i / 3 for i in range(n)],
        }
    )


def encoded(fmt: str) -> bytes:
    out = io.BytesIO()
    getattr(frame(), f"write_{fmt}")(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(data_dir=tmp_path_factory.mktemp("hub")) as h:
        api = HfApi(endpoint=h.url, token=h.token)
        api.create_bucket(f"{h.user}/stream")
        files = []
        for fmt in ("csv", "ndjson"):
            files += [(encoded(fmt), f"plain/data.{fmt}"), (gzip.compress(encoded(fmt)), f"gz/data.{fmt}.gz")]
        ipc = io.BytesIO()
        table = frame(30_000).to_arrow()
        with pa.ipc.new_file(ipc, table.schema) as writer:  # three record batches, read one at a time
            for batch in table.to_batches(max_chunksize=10_000):
                writer.write_batch(batch)
        files.append((ipc.getvalue(), "ipc/data.arrow"))
        api.batch_bucket_files(f"{h.user}/stream", add=files)
        yield h


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_stream, "PIECE", 4096)  # ~60 pieces for a 250 KB file


@pytest.fixture
def no_temp_files(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the streamed scan made a temporary file")

    for name in ("mkdtemp", "mkstemp", "NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile"):
        monkeypatch.setattr(tempfile, name, refuse)


@pytest.mark.parametrize("folder", ["plain", "gz"])
@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_streamed_pieces_give_polars_frame(hub: LocalHub, fmt: str, folder: str, small_pieces: None, no_temp_files: None) -> None:
    expected = getattr(pl, f"read_{fmt}")(io.BytesIO(encoded(fmt)))
    suffix = f".{fmt}.gz" if folder == "gz" else f".{fmt}"
    lf = getattr(hf_bucket_sink, f"scan_{fmt}")(
        f"hf://buckets/{hub.user}/stream/{folder}/data{suffix}", storage_options={"token": hub.token, "endpoint": hub.url}
    )
    assert lf.collect().equals(expected)
    got = lf.filter(pl.col("id") % 7 == 0).select("text", "id").collect()
    assert got.equals(expected.filter(pl.col("id") % 7 == 0).select("text", "id"))
    assert lf.head(5).collect().equals(expected.head(5))


def test_records_never_cut_inside_quotes() -> None:
    data = encoded("csv")
    blocks = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    pieces = list(text_stream.records(blocks, quote=b'"', size=2048))
    assert len(pieces) > 10 and b"".join(pieces) == data
    assert all(p.endswith(b"\n") and p.count(b'"') % 2 == 0 for p in pieces)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_a_pipe_streams_once_without_a_temporary_file(fmt: str, compress: bool, small_pieces: None, no_temp_files: None) -> None:
    import os
    import threading

    data = encoded(fmt)
    payload = gzip.compress(data) if compress else data
    read_end, write_end = os.pipe()

    def write() -> None:
        with os.fdopen(write_end, "wb") as out:
            for i in range(0, len(payload), 5000):
                out.write(payload[i : i + 5000])

    writer = threading.Thread(target=write)
    writer.start()
    with os.fdopen(read_end, "rb") as pipe:
        lf = text_stream.scan_stream(pipe, fmt)
        assert lf.collect_schema() == getattr(pl, f"read_{fmt}")(io.BytesIO(data)).schema
        assert lf.collect().equals(getattr(pl, f"read_{fmt}")(io.BytesIO(data)))
        with pytest.raises(hf_bucket_sink.InvalidOptionError, match="already read"):
            lf.collect()
    writer.join()


def test_ipc_reads_through_its_footer_one_record_batch_at_a_time(hub: LocalHub, no_temp_files: None) -> None:
    expected = frame(30_000)
    lf = hf_bucket_sink.scan_ipc(f"hf://buckets/{hub.user}/stream/ipc/data.arrow", storage_options={"token": hub.token, "endpoint": hub.url})
    assert pa.ipc.open_file(io.BytesIO(encoded_ipc(hub))).num_record_batches == 3
    assert lf.collect().equals(expected)
    assert lf.filter(pl.col("id") > 29_990).select("id").collect().equals(expected.filter(pl.col("id") > 29_990).select("id"))


def encoded_ipc(hub: LocalHub) -> bytes:
    from huggingface_hub import HfFileSystem

    return HfFileSystem(endpoint=hub.url, token=hub.token).read_bytes(f"buckets/{hub.user}/stream/ipc/data.arrow")  # type: ignore[no-any-return]
