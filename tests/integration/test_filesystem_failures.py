"""``BucketFileSystem`` on failure paths: no upload thread survives a failed write or an aborted transaction,
Ctrl-C inside a transaction registers nothing, engines failing part-way *outside* a transaction publish
nothing (the trap of issue 16: libraries close their files on their own error paths), and a transaction
refuses files opened from another process. Each fault is proven to have fired before its effect is checked.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from huggingface_hub import HfApi

from hf_bucket_sink.errors import UploadError
from hf_bucket_sink.filesystem import BucketFileSystem, BucketWriteFile
from hf_bucket_sink.localhub import LocalHub

duckdb = pytest.importorskip("duckdb")

BUCKET = "fail"
MIB = 1024 * 1024


class Boom(RuntimeError):
    """The failure injected in the middle of a write."""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(data_dir=tmp_path_factory.mktemp("hub")) as h:
        HfApi(endpoint=h.url, token=h.token).create_bucket(f"{h.user}/{BUCKET}")
        yield h


@pytest.fixture
def fs(hub: LocalHub) -> BucketFileSystem:
    return BucketFileSystem(endpoint=hub.url, token=hub.token, skip_instance_cache=True)


@pytest.fixture
def root(hub: LocalHub, request: pytest.FixtureRequest) -> str:
    return f"hf://buckets/{hub.user}/{BUCKET}/{request.node.name.replace('[', '_').rstrip(']')}"


def listed(fs: BucketFileSystem, root: str) -> list[str]:
    """Every file under ``root`` as a reader of the bucket sees it now (fresh listing)."""
    return sorted(fs.find(root, refresh=True)) if fs.exists(root, refresh=True) else []


def upload_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("hf-bucket-sink")}


def client_threads() -> set[threading.Thread]:
    """Threads of this process but the in-process local Hub's request handlers (the server side)."""
    return {t for t in threading.enumerate() if "process_request_thread" not in t.name}


def write_old(fs: BucketFileSystem, path: str) -> bytes:
    with fs.open(path, "wb") as f:
        pq.write_table(pa.table({"old": [1, 2, 3]}), f)
    return bytes(fs.cat(path))


# -- threads -------------------------------------------------------------------------------------------------
def test_no_thread_left_after_failed_write_or_aborted_transaction(fs: BucketFileSystem, root: str) -> None:
    before = client_threads()
    block = os.urandom(MIB)
    running: list[int] = []
    with pytest.raises(Boom):
        with fs.open(f"{root}/one.bin", "wb") as f:
            for _ in range(12):  # > one 4 MiB block: the uploader thread is running
                f.write(block)
            running.append(len(upload_threads()))
            raise Boom("the writer failed")
    with pytest.raises(Boom):
        with fs.transaction:
            files = [fs.open(f"{root}/t{i}.bin", "wb") for i in range(3)]
            for f in files:
                for _ in range(6):  # > one 2 MiB transaction block each
                    f.write(block)
            running.append(len(upload_threads()))
            raise Boom("the transaction failed")
    assert running[0] >= 1 and running[1] >= 3  # the threads whose end is checked did run
    assert client_threads() - before == set()
    assert listed(fs, root) == []


def test_ctrl_c_inside_transaction_registers_nothing_and_leaves_no_thread(fs: BucketFileSystem, root: str, python_sigint: None) -> None:
    ctrl_c_inside_transaction(fs, root)


def ctrl_c_inside_transaction(fs: BucketFileSystem, root: str) -> None:
    old = write_old(fs, f"{root}/keep.parquet")
    before = client_threads()
    block = os.urandom(MIB)
    written = [0]
    with pytest.raises(KeyboardInterrupt):
        with fs.transaction:
            with fs.open(f"{root}/other.bin", "wb") as f:
                f.write(b"complete")
            f = fs.open(f"{root}/keep.parquet", "wb")
            for i in range(64):
                if i == 8:  # Ctrl-C mid-write: SIGINT's default handler raises in this, the writing thread
                    signal.raise_signal(signal.SIGINT)
                f.write(block)
                written[0] += 1
    assert written[0] == 8  # the interrupt fired in the middle of the write, after 8 MiB
    assert client_threads() - before == set()
    assert listed(fs, root) == [f"{root[5:]}/keep.parquet"]
    assert fs.cat(f"{root}/keep.parquet") == old


# -- engines failing part-way outside a transaction ------------------------------------------------------
def test_pyarrow_writer_failing_outside_transaction_publishes_nothing(fs: BucketFileSystem, root: str) -> None:
    path = f"{root}/w.parquet"
    old = write_old(fs, path)
    pfs = pafs.PyFileSystem(pafs.FSSpecHandler(fs))
    table = pa.table({"id": list(range(100_000)), "x": [float(i) for i in range(100_000)]})
    written: list[int] = []
    with pytest.raises(Boom):  # the engine's own error, not one of ours in its place
        with pq.ParquetWriter(path.removeprefix("hf://"), table.schema, filesystem=pfs) as writer:
            for batch in table.to_batches(max_chunksize=10_000):
                writer.write_batch(batch)
                written.append(batch.num_rows)
                if len(written) == 3:
                    # ParquetWriter.__exit__ writes a valid footer and closes the file on the way out:
                    # a stock filesystem publishes 30 k of 100 k rows here
                    raise Boom("failed after 3 of 10 row groups")
    assert len(written) == 3
    assert fs.cat(path) == old
    assert listed(fs, root) == [f"{root[5:]}/w.parquet"]


def test_pandas_to_csv_failing_outside_transaction_publishes_nothing(fs: BucketFileSystem, root: str) -> None:
    import pandas as pd

    class Unprintable:
        def __str__(self) -> str:
            raise Boom("this cell cannot be written")

    path = f"{root}/p.csv"
    with fs.open(path, "wb") as f:
        f.write(b"old\n")
    cells: list[Any] = [f"r{i}" for i in range(20_000)]
    cells[15_000] = Unprintable()  # 15 chunks of 1000 rows are written before this one fails
    with pytest.raises(Boom):
        pd.DataFrame({"s": cells}, dtype=object).to_csv(fs.open(path, "w"), index=False, chunksize=1000)
    assert fs.cat(path) == b"old\n"


def test_duckdb_copy_failing_outside_transaction_publishes_nothing(
    fs: BucketFileSystem, root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = f"{root}/d.parquet"
    old = write_old(fs, path)
    opened: list[BucketWriteFile] = []
    original = BucketFileSystem._open_write

    def spy(self: BucketFileSystem, *args: Any, **kwargs: Any) -> BucketWriteFile:
        opened.append(original(self, *args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(BucketFileSystem, "_open_write", spy)
    con = duckdb.connect()
    con.register_filesystem(fs)
    con.execute("SET threads = 1")  # row groups in order: the failing row comes after some are written
    try:
        with pytest.raises(duckdb.Error, match="boom"):
            con.execute(
                "COPY (SELECT i, random() AS x, CASE WHEN i = 900000 THEN error('boom') END AS e FROM range(1000000) t(i)) "
                f"TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 100000)"
            )
    finally:
        con.close()
    assert len(opened) == 1 and opened[0].loc > 0  # DuckDB had written part of the file when it failed
    assert fs.cat(path) == old
    assert listed(fs, root) == [f"{root[5:]}/d.parquet"]


# -- a transaction cannot span processes --------------------------------------------------------------------
def _open_in_child(fs: BucketFileSystem, path: str, answers: Any) -> None:
    try:
        with fs.open(path, "wb") as f:
            f.write(b"from another process")
        answers.put("written")
    except UploadError as exc:
        answers.put(f"refused: {exc}")
    except BaseException as exc:  # report any other outcome to the parent, which fails the test
        answers.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_transaction_refuses_files_opened_from_another_process(fs: BucketFileSystem, root: str, start: str) -> None:
    ctx = multiprocessing.get_context(start)
    answers = ctx.Queue()
    with fs.transaction:
        with fs.open(f"{root}/here.bin", "wb") as f:
            f.write(b"from the process of the transaction")
        # spawn pickles the filesystem (as Dask distributed does); fork inherits the open transaction
        child = ctx.Process(target=_open_in_child, args=(fs, f"{root}/there.bin", answers))
        child.start()
        answer = answers.get(timeout=120)
        child.join(timeout=60)
    assert answer.startswith("refused:") and "cannot span processes" in answer, answer
    assert listed(fs, root) == [f"{root[5:]}/here.bin"]
    copy = pickle.loads(pickle.dumps(fs))  # a copy made after the transaction writes normally
    with copy.open(f"{root}/later.bin", "wb") as f:
        f.write(b"after")
    fs.invalidate_cache()
    assert fs.cat(f"{root}/later.bin") == b"after"


def test_dask_distributed_inside_transaction_is_refused_and_works_outside(fs: BucketFileSystem, root: str) -> None:
    """What the README says of Dask's distributed scheduler (runs where ``distributed`` is installed)."""
    distributed = pytest.importorskip("distributed")
    import dask.dataframe as dd
    import pandas as pd

    df = pd.DataFrame({"id": range(1000)})
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster):
            ddf = dd.from_pandas(df, npartitions=2)
            with pytest.raises(UploadError, match="cannot span processes"):
                with fs.transaction:
                    ddf.to_parquet(f"{root}/in", filesystem=fs, write_index=False)
            assert listed(fs, root) == []
            ddf.to_parquet(f"{root}/out", filesystem=fs, write_index=False)  # outside: each file on its close
            back = dd.read_parquet(f"{root}/out", filesystem=fs).compute()
    assert sorted(back["id"]) == list(range(1000))
