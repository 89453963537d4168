"""Each engine writes through ``BucketFileSystem`` into the local Hub: round trip equal to the source, and a
failure in the middle of the engine's write inside ``fs.transaction`` leaves nothing visible and the older
file at that path intact. Real engines, real hf_xet, real local Hub; ``install()`` routes the ``hf`` protocol.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from huggingface_hub import HfApi

import hf_bucket_sink
from hf_bucket_sink.filesystem import BucketFileSystem
from hf_bucket_sink.localhub import LocalHub

duckdb = pytest.importorskip("duckdb")
dd = pytest.importorskip("dask.dataframe")
import dask  # noqa: E402

BUCKET = "engines"


class Boom(RuntimeError):
    """The failure injected in the middle of an engine's write."""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(data_dir=tmp_path_factory.mktemp("hub")) as h:
        HfApi(endpoint=h.url, token=h.token).create_bucket(f"{h.user}/{BUCKET}")
        yield h


@pytest.fixture
def fs(hub: LocalHub) -> Iterator[BucketFileSystem]:
    hf_bucket_sink.install()
    try:
        fs = fsspec.filesystem("hf", endpoint=hub.url, token=hub.token)  # the instance pandas gets too
        assert isinstance(fs, BucketFileSystem)
        yield fs
    finally:
        hf_bucket_sink.uninstall()


@pytest.fixture
def root(hub: LocalHub, request: pytest.FixtureRequest) -> str:
    return f"hf://buckets/{hub.user}/{BUCKET}/{request.node.name.replace('[', '_').rstrip(']')}"


def frame(n: int = 50_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": np.arange(n), "k": rng.integers(0, 4, n), "x": rng.random(n), "s": [f"r{i % 97}" for i in range(n)]})


def files_under(api: HfApi, hub: LocalHub, prefix: str) -> dict[str, str]:
    key = prefix.split(f"{BUCKET}/", 1)[1]
    return {f.path: f.xet_hash for f in api.list_bucket_tree(f"{hub.user}/{BUCKET}", key, recursive=True) if hasattr(f, "size")}


def keep_old(fs: BucketFileSystem, path: str) -> bytes:
    old = frame(100, seed=9)
    with fs.open(path, "wb") as f:
        old.to_parquet(f)
    return fs.cat(path)


# -- pandas ------------------------------------------------------------------------------------------------
def test_pandas_to_parquet_to_csv_read_parquet(fs: BucketFileSystem, root: str, hub: LocalHub) -> None:
    df = frame()
    opts = {"endpoint": hub.url, "token": hub.token}
    df.to_parquet(f"{root}/df.parquet", storage_options=opts)
    df.to_csv(f"{root}/df.csv", index=False, storage_options=opts)
    pd.testing.assert_frame_equal(pd.read_parquet(f"{root}/df.parquet", storage_options=opts), df)
    pd.testing.assert_frame_equal(pd.read_csv(f"{root}/df.csv", storage_options=opts), df)


class Unprintable:
    def __str__(self) -> str:
        raise Boom("this cell cannot be written")


def test_pandas_failure_inside_transaction(fs: BucketFileSystem, root: str, api: HfApi, hub: LocalHub) -> None:
    path = f"{root}/t.csv"
    with fs.open(path, "wb") as f:
        f.write(b"old\n")
    opts = {"endpoint": hub.url, "token": hub.token}
    bad = frame().astype({"s": object})
    bad.loc[40_000, "s"] = Unprintable()  # pandas has written 40 chunks of 1000 rows when this one fails
    with pytest.raises(Boom):
        with fs.transaction:
            frame(10).to_parquet(f"{root}/other.parquet", storage_options=opts)
            bad.to_csv(path, index=False, chunksize=1000, storage_options=opts)
    assert fs.cat(path) == b"old\n"
    assert set(files_under(api, hub, root)) == {path.split(f"{BUCKET}/", 1)[1]}


# -- pyarrow -----------------------------------------------------------------------------------------------
def test_pyarrow_write_table_and_dataset(fs: BucketFileSystem, root: str) -> None:
    table = pa.Table.from_pandas(frame(), preserve_index=False)
    pfs = pafs.PyFileSystem(pafs.FSSpecHandler(fs))
    base = root.removeprefix("hf://")
    pq.write_table(table, f"{base}/table.parquet", filesystem=pfs)
    assert pq.read_table(f"{base}/table.parquet", filesystem=pfs).equals(table)
    pads.write_dataset(table, f"{base}/ds", format="parquet", filesystem=pfs, partitioning=["k"], partitioning_flavor="hive")
    back = pads.dataset(f"{base}/ds", format="parquet", filesystem=pfs, partitioning="hive").to_table().to_pandas()
    back = back.sort_values("id").reset_index(drop=True)[table.column_names]
    back["k"] = back["k"].astype("int64")
    pd.testing.assert_frame_equal(back, table.to_pandas())


def test_pyarrow_writer_failure_inside_transaction(fs: BucketFileSystem, root: str, api: HfApi, hub: LocalHub) -> None:
    path = f"{root}/w.parquet"
    old = keep_old(fs, path)
    table = pa.Table.from_pandas(frame(), preserve_index=False)
    pfs = pafs.PyFileSystem(pafs.FSSpecHandler(fs))
    written = []
    with pytest.raises(Boom):
        with fs.transaction:
            with pq.ParquetWriter(path.removeprefix("hf://"), table.schema, filesystem=pfs) as writer:
                for batch in table.to_batches(max_chunksize=10_000):
                    writer.write_batch(batch)
                    written.append(batch.num_rows)
                    if len(written) == 3:
                        raise Boom("failed after 3 row groups")  # pyarrow closes the file on the way out
    assert len(written) == 3  # the fault fired in the middle of the write
    assert fs.cat(path) == old
    assert set(files_under(api, hub, root)) == {path.split(f"{BUCKET}/", 1)[1]}


# -- DuckDB ------------------------------------------------------------------------------------------------
@pytest.fixture
def con(fs: BucketFileSystem) -> Iterator[Any]:
    con = duckdb.connect()
    con.register_filesystem(fs)
    con.execute("SET threads = 2")
    try:
        yield con
    finally:
        con.close()


def test_duckdb_copy_single_and_partition_by(fs: BucketFileSystem, root: str, con: Any) -> None:
    df = frame()
    con.register("src", df)
    con.execute(f"COPY src TO '{root}/one.parquet' (FORMAT parquet)")
    with fs.transaction:
        con.execute(f"COPY src TO '{root}/parts' (FORMAT parquet, PARTITION_BY (k))")
    one = con.execute(f"SELECT * FROM read_parquet('{root}/one.parquet') ORDER BY id").df()
    pd.testing.assert_frame_equal(one, df, check_dtype=False)
    parts = con.execute(f"SELECT id, k, x, s FROM read_parquet('{root}/parts/**/*.parquet', hive_partitioning=true) ORDER BY id").df()
    pd.testing.assert_frame_equal(parts, df, check_dtype=False)
    assert len(fs.find(f"{root}/parts")) >= 4


def test_duckdb_failure_inside_transaction(fs: BucketFileSystem, root: str, con: Any, api: HfApi, hub: LocalHub) -> None:
    path = f"{root}/d.parquet"
    old = keep_old(fs, path)
    con.register("src", frame(200_000))
    query = f"COPY (SELECT *, CASE WHEN id = 150000 THEN error('boom') END AS e FROM src) TO '{{}}' (FORMAT parquet{{}})"
    with pytest.raises(duckdb.Error, match="boom"):
        with fs.transaction:
            con.execute(query.format(path, ""))
    with pytest.raises(duckdb.Error, match="boom"):
        with fs.transaction:
            con.execute(query.format(f"{root}/dparts", ", PARTITION_BY (k)"))
    assert fs.cat(path) == old
    assert set(files_under(api, hub, root)) == {path.split(f"{BUCKET}/", 1)[1]}


# -- Dask --------------------------------------------------------------------------------------------------
def test_dask_to_parquet_threaded(fs: BucketFileSystem, root: str) -> None:
    df = frame()
    ddf = dd.from_pandas(df, npartitions=4)
    with dask.config.set(scheduler="threads", num_workers=2):
        with fs.transaction:
            ddf.to_parquet(f"{root}/dask", filesystem=fs, write_index=False)
        back = dd.read_parquet(f"{root}/dask", filesystem=fs).compute()
    pd.testing.assert_frame_equal(back.sort_values("id").reset_index(drop=True), df, check_dtype=False)


def test_dask_failure_inside_transaction(fs: BucketFileSystem, root: str, api: HfApi, hub: LocalHub) -> None:
    path = f"{root}/dask/part.0.parquet"
    old = keep_old(fs, path)
    fired = []

    def fail_third(part: pd.DataFrame) -> pd.DataFrame:
        if len(part) and part["id"].iloc[0] >= 25_000:
            fired.append(True)
            raise Boom("partition failed")
        return part

    ddf = dd.from_pandas(frame(), npartitions=4).map_partitions(fail_third, meta=frame(0))
    with dask.config.set(scheduler="threads", num_workers=2):
        with pytest.raises(Boom):
            with fs.transaction:
                ddf.to_parquet(f"{root}/dask", filesystem=fs, write_index=False)
    assert fired
    assert fs.cat(path) == old
    assert set(files_under(api, hub, root)) == {path.split(f"{BUCKET}/", 1)[1]}
