"""The ``hf-bucket-sink`` command line (cp, sql, ls, du) run as a subprocess against a local Hub.

Every test runs ``python -m hf_bucket_sink.cli ...`` with an explicit environment (the autouse
fixture in conftest only isolates *this* process) and checks what the bucket holds afterwards:
the data, read back, or exactly the files that were there before (nothing registered).
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from huggingface_hub import HfApi
from polars.testing import assert_frame_equal

import hf_bucket_sink
from hf_bucket_sink.localhub import LocalHub
from hf_bucket_sink.cli.workloads import flights_csv

BUCKET = "cli"
ROWS = 3_000
PREFIX = f"hf://buckets/local/{BUCKET}"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(data_dir=tmp_path_factory.mktemp("cli-hub")) as h:
        HfApi(endpoint=h.url, token=h.token).create_bucket(f"{h.user}/{BUCKET}", exist_ok=True)
        yield h


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small flights CSV (first 3,000 rows) and the same rows as three NDJSON files."""
    folder = tmp_path_factory.mktemp("cli-data")
    with open(flights_csv(), "rb") as src, open(folder / "flights.csv", "wb") as dst:
        for _ in range(ROWS + 1):
            dst.write(src.readline())
    df = expected_flights(folder)
    (folder / "parts").mkdir()
    for i in range(3):
        df.slice(i * 1_000, 1_000).write_ndjson(folder / "parts" / f"part-{i}.jsonl")
    # integers for 2,000 rows, then text: typed as integers from the first rows, fails mid-stream
    (folder / "bad.csv").write_text("a,b\n" + "1,2\n" * 2_000 + "x,y\n")
    return folder


@pytest.fixture(scope="module")
def env(hub: LocalHub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("cli-hf-home")
    base = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT")}
    return {
        **base,
        "HF_HOME": str(home),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": hub.token,
    }


@pytest.fixture(scope="module")
def api(hub: LocalHub) -> HfApi:
    return HfApi(endpoint=hub.url, token=hub.token)


def expected_flights(folder: Path) -> pl.DataFrame:
    return pl.read_csv(folder / "flights.csv", null_values=["NA"], infer_schema_length=10_000)


def cli(
    *args: str, env: Mapping[str, str], cwd: Path | None = None, stdin: bytes | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "hf_bucket_sink.cli", *args],
        env=dict(env),
        cwd=cwd,
        input=stdin.decode() if stdin is not None else None,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result


def ok_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def bucket_files(api: HfApi, hub: LocalHub) -> dict[str, str]:
    """path -> xet hash of every file in the bucket."""
    return {
        f.path: f.xet_hash
        for f in api.list_bucket_tree(f"{hub.user}/{BUCKET}", recursive=True)
        if getattr(f, "xet_hash", None) is not None
    }


def read_back(hub: LocalHub, uri: str) -> pl.DataFrame:
    return hf_bucket_sink.read_parquet(uri, storage_options={"token": hub.token, "endpoint": hub.url})


# -- the three "Done when" conversions ---------------------------------------------------------------


def test_csv_to_parquet_with_json_result(hub: LocalHub, env: dict[str, str], data: Path) -> None:
    dest = f"{PREFIX}/csv/flights.parquet"
    out = ok_json(cli("cp", str(data / "flights.csv"), dest, "--null-value", "NA", "--json", env=env))
    assert out["uri"] == dest and out["rows"] == ROWS
    assert [f["uri"] for f in out["files"]] == [dest]
    assert out["size"] == out["files"][0]["size"] > 0
    assert out["new_bytes"] + out["deduplicated_bytes"] == out["size"]
    assert 0.0 <= out["dedup_ratio"] <= 1.0 and out["uploaded_bytes"] > 0 and out["seconds"] > 0
    assert len(out["files"][0]["xet_hash"]) == 64
    assert_frame_equal(read_back(hub, dest), expected_flights(data))


def test_plain_output_is_a_short_summary(env: dict[str, str], data: Path) -> None:
    result = cli("cp", str(data / "flights.csv"), f"{PREFIX}/csv/summary.parquet", "--null-value", "NA", env=env)
    assert result.returncode == 0, result.stderr
    assert f"{PREFIX}/csv/summary.parquet: 3,000 rows" in result.stdout
    assert "deduplicated" in result.stdout and result.stderr == ""


def test_ndjson_glob_to_partitioned_parquet(hub: LocalHub, api: HfApi, env: dict[str, str], data: Path) -> None:
    dest = f"{PREFIX}/by-origin/"
    out = ok_json(cli("cp", "parts/*.jsonl", dest, "--to", "parquet", "--partition-by", "origin", "--json", env=env, cwd=data))
    expected = expected_flights(data)
    origins = sorted(expected["origin"].unique())
    assert [f["uri"] for f in out["files"]] == [f"{dest}origin={o}/00000000.parquet" for o in origins]
    # every directory output has a commit point, beside the directory (docs/commit-protocol.md)
    assert out["rows"] == ROWS and out["manifest"]["uri"] == f"{PREFIX}/_by-origin.manifest.json"
    assert {p for p in bucket_files(api, hub) if p.startswith("by-origin/")} == {
        f"by-origin/origin={o}/00000000.parquet" for o in origins
    }
    back = read_back(hub, f"{dest}**/*.parquet").select(expected.columns)
    # NDJSON carries time_hour as text: compare on what both sides share
    key = ["year", "month", "day", "sched_dep_time", "flight", "carrier"]
    assert_frame_equal(
        back.drop("time_hour").sort(key), expected.drop("time_hour").sort(key), check_dtypes=False
    )


def test_stdin_to_parquet(hub: LocalHub, env: dict[str, str], data: Path) -> None:
    dest = f"{PREFIX}/stdin/flights.parquet"
    raw = (data / "flights.csv").read_bytes()
    out = ok_json(cli("cp", "-", dest, "--from", "csv", "--null-value", "NA", "--json", env=env, stdin=raw))
    assert out["rows"] == ROWS
    assert_frame_equal(read_back(hub, dest), expected_flights(data))


def test_sql_into_a_bucket(hub: LocalHub, env: dict[str, str], data: Path) -> None:
    dest = f"{PREFIX}/sql/delays.parquet"
    query = "SELECT carrier, COUNT(*) AS flights, AVG(arr_delay) AS delay FROM f GROUP BY carrier ORDER BY carrier"
    out = ok_json(cli("sql", query, "--table", f"f={data / 'flights.csv'}", "--null-value", "NA", "--into", dest, "--json", env=env))
    expected = pl.SQLContext(f=expected_flights(data).lazy()).execute(query, eager=True)
    assert out["rows"] == expected.height
    assert_frame_equal(read_back(hub, dest), expected, check_dtypes=False)


def test_sql_joins_a_bucket_table_with_a_local_one(hub: LocalHub, env: dict[str, str], data: Path) -> None:
    """A table read from the bucket (hf_bucket_sink.scan_*) joined with a local CSV, into CSV."""
    source = f"{PREFIX}/csv/flights.parquet"
    ok_json(cli("cp", str(data / "flights.csv"), source, "--null-value", "NA", "--json", env=env))
    carriers = data / "carriers.csv"
    pl.DataFrame({"code": ["AA", "UA"], "name": ["American", "United"]}).write_csv(carriers)
    dest = f"{PREFIX}/sql/named.csv"
    query = "SELECT c.name, COUNT(*) AS n FROM f JOIN c ON f.carrier = c.code GROUP BY c.name ORDER BY c.name"
    out = ok_json(cli("sql", query, "-t", f"f={source}", "-t", f"c={carriers}", "--into", dest, "--json", env=env))
    assert out["files"][0]["uri"] == dest
    flights = expected_flights(data)
    got = hf_bucket_sink.read_csv(dest, storage_options={"token": hub.token, "endpoint": hub.url})
    assert got.to_dicts() == [
        {"name": "American", "n": flights.filter(pl.col("carrier") == "AA").height},
        {"name": "United", "n": flights.filter(pl.col("carrier") == "UA").height},
    ]


def test_cdc_flag_writes_parquet(hub: LocalHub, env: dict[str, str], data: Path) -> None:
    dest = f"{PREFIX}/cdc/flights.parquet"
    out = ok_json(cli("cp", str(data / "flights.csv"), dest, "--null-value", "NA", "--cdc", "--json", env=env))
    assert out["rows"] == ROWS
    assert_frame_equal(read_back(hub, dest), expected_flights(data))


def test_folder_dest_names_the_file_and_compression_from_the_suffix(hub: LocalHub, api: HfApi, env: dict[str, str], data: Path) -> None:
    out = ok_json(cli("cp", str(data / "flights.csv"), f"{PREFIX}/folder/", "--json", env=env))
    assert out["files"][0]["uri"] == f"{PREFIX}/folder/flights.csv"  # same format as the source, source's name
    out = ok_json(cli("cp", "parts/part-0.jsonl", f"{PREFIX}/folder/part.jsonl.gz", "--json", env=env, cwd=data))
    got = hf_bucket_sink.read_ndjson(out["uri"], storage_options={"token": hub.token, "endpoint": hub.url})
    assert got.height == 1_000


# -- ls / du -------------------------------------------------------------------------------------------


#: the commit point of the partitioned ``ls/parts/`` output, beside the folder
MANIFEST = "_parts.manifest.json"


@pytest.fixture(scope="module")
def listed(env: dict[str, str], data: Path) -> dict[str, Any]:
    """A folder with two identical Parquet files and a partitioned sub-folder."""
    results = {}
    for name in ("a.parquet", "b.parquet"):
        results[name] = ok_json(cli("cp", str(data / "flights.csv"), f"{PREFIX}/ls/{name}", "--null-value", "NA", "--json", env=env))
    results["parts"] = ok_json(
        cli("cp", str(data / "flights.csv"), f"{PREFIX}/ls/parts/", "--to", "csv", "--max-rows-per-file", "1000", "--json", env=env)
    )
    return results


def test_ls_lists_names_sizes_and_recursive_json(env: dict[str, str], listed: dict[str, Any]) -> None:
    plain = cli("ls", f"{PREFIX}/ls", env=env)
    assert plain.returncode == 0, plain.stderr
    # the partitioned output's commit point lives beside its folder (docs/commit-protocol.md)
    assert plain.stdout.splitlines() == [MANIFEST, "a.parquet", "b.parquet", "parts/"]

    long = cli("ls", "-l", f"{PREFIX}/ls/", env=env)
    assert long.returncode == 0, long.stderr
    size = listed["a.parquet"]["size"]
    msize = listed["parts"]["manifest"]["size"]
    first = long.stdout.splitlines()[1].split()
    assert first[0] == f"{size:,}" and first[-1] == "a.parquet"
    assert long.stdout.splitlines()[-1].startswith(f"total: 3 files, {2 * size + msize:,} bytes")

    rec = cli("ls", "-R", "--json", f"{PREFIX}/ls", env=env)
    entries = ok_json(rec)
    parts = [f["uri"] for f in listed["parts"]["files"]]
    assert len(parts) == 3
    assert [e["uri"] for e in entries] == [f"{PREFIX}/ls/{MANIFEST}", f"{PREFIX}/ls/a.parquet", f"{PREFIX}/ls/b.parquet", *parts]
    assert {e["type"] for e in entries} == {"file"} and all(e["size"] > 0 and e["xet_hash"] for e in entries)

    one = cli("ls", f"{PREFIX}/ls/a.parquet", env=env)
    assert one.stdout.splitlines() == ["a.parquet"]


def test_du_sizes_counts_and_dedup(hub: LocalHub, env: dict[str, str], listed: dict[str, Any]) -> None:
    out = ok_json(cli("du", "--json", f"{PREFIX}/ls", env=env))
    sizes = {name: listed[name]["size"] for name in ("a.parquet", "b.parquet")}
    parts_size = listed["parts"]["size"]
    msize = listed["parts"]["manifest"]["size"]
    assert out["files"] == 6 and out["size"] == sum(sizes.values()) + parts_size + msize
    assert out["children"] == [
        {"path": MANIFEST, "files": 1, "size": msize},
        {"path": "a.parquet", "files": 1, "size": sizes["a.parquet"]},
        {"path": "b.parquet", "files": 1, "size": sizes["b.parquet"]},
        {"path": "parts/", "files": 3, "size": parts_size},
    ]
    # the same query written twice gives the same bytes: the listing shows one stored copy
    assert listed["a.parquet"]["files"][0]["xet_hash"] == listed["b.parquet"]["files"][0]["xet_hash"]
    assert out["identical_files"] == 1 and out["identical_file_bytes"] == sizes["b.parquet"]
    catalog = hub.stats()["catalog"]
    assert out["hub"]["logical_bytes"] == catalog["file_bytes"] and out["hub"]["stored_bytes"] == catalog["xorb_bytes"]
    assert out["hub"]["stored_bytes"] < out["hub"]["logical_bytes"]

    text = cli("du", f"{PREFIX}/ls", env=env)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[1].split()[-1] == "a.parquet" and lines[3].split()[-1] == "parts/"
    assert lines[4].endswith(f"{PREFIX}/ls/  (total)") and " 6 files" in lines[4]
    assert lines[5].startswith("identical files: 1 ") and lines[6].startswith("chunk dedup, whole Hub: ")

    summary = cli("du", "-s", f"{PREFIX}/ls", env=env)
    assert summary.stdout.splitlines()[0].endswith("(total)")


def test_du_says_unknown_when_the_hub_reports_no_stats() -> None:
    from hf_bucket_sink.cli.ls import _hub_stats

    assert _hub_stats("http://127.0.0.1:9") is None  # nothing listens on the discard port


# -- progress on a terminal ---------------------------------------------------------------------------


def run_on_tty(args: Sequence[str], env: Mapping[str, str]) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal; returns (exit code, stdout, what the terminal showed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hf_bucket_sink.cli", *args],
        env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, text=True,
    )
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    stdout = proc.stdout.read() if proc.stdout else ""
    return proc.wait(timeout=30), stdout, shown.decode(errors="replace")


def test_progress_on_a_terminal_and_quiet(env: dict[str, str]) -> None:
    tty_env = {k: v for k, v in env.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    source = str(flights_csv())  # 336,776 rows: long enough for hf_xet to report progress
    code, stdout, shown = run_on_tty(["cp", source, f"{PREFIX}/tty/flights.parquet", "--null-value", "NA"], tty_env)
    assert code == 0, shown
    assert f"{PREFIX}/tty/flights.parquet: " in shown and " rows" in shown and "MB/s" in shown
    assert "336,776 rows" in stdout

    code, stdout, shown = run_on_tty(["cp", source, f"{PREFIX}/tty/quiet.parquet", "--null-value", "NA", "--quiet"], tty_env)
    assert code == 0 and stdout == "" and shown == ""


# -- bad inputs: exit code 1, one line, nothing registered --------------------------------------------


BAD = {
    "missing source": (["cp", "missing.csv", f"{PREFIX}/bad/x.parquet"], "does not exist"),
    "glob matching nothing": (["cp", "nothing-*.csv", f"{PREFIX}/bad/x.parquet"], "matches no file"),
    "bad dest URI": (["cp", "flights.csv", "hf://bucket/local/cli/bad/x.parquet"], "is not a bucket"),
    "dest not a bucket": (["cp", "flights.csv", "s3://b/x.parquet"], "is not a bucket"),
    "dest without bucket": (["cp", "flights.csv", "hf://buckets/local"], "does not name a namespace and a bucket"),
    "bad source URI": (["cp", "hf://bucket/local/cli/x.parquet", f"{PREFIX}/bad/x.parquet"], "not a source"),
    "missing bucket": (["cp", "flights.csv", "hf://buckets/local/no-such-bucket/x.parquet"], "was not found"),
    "unknown dest format": (["cp", "flights.csv", f"{PREFIX}/bad/x"], "--to"),
    "stdin without --from": (["cp", "-", f"{PREFIX}/bad/x.parquet"], "--from"),
    "bad compression": (["cp", "flights.csv", f"{PREFIX}/bad/x.parquet", "--compression", "zip"], "not available for parquet"),
    "cdc on csv": (["cp", "flights.csv", f"{PREFIX}/bad/x.csv", "--cdc"], "--cdc"),
    "folder dest for a glob": (["cp", "parts/*.jsonl", f"{PREFIX}/bad/"], "name the output file"),
    "sql syntax": (["sql", "SELEC carrier FROM f", "-t", "f=flights.csv", "--into", f"{PREFIX}/bad/q.parquet"], "SQL query is not valid"),
    "sql unknown column": (["sql", "SELECT nope FROM f", "-t", "f=flights.csv", "--into", f"{PREFIX}/bad/q.parquet"], 'column "nope"'),
    "sql unknown table": (["sql", "SELECT * FROM g", "-t", "f=flights.csv", "--into", f"{PREFIX}/bad/q.parquet"], "'g' was not found"),
    "sql fails while streaming": (
        ["sql", "SELECT CAST(tailnum AS INT) AS t FROM f", "-t", "f=flights.csv", "--into", f"{PREFIX}/bad/q.parquet"],
        "failed while streaming",
    ),
    "csv parse fails while streaming": (
        ["cp", "bad.csv", f"{PREFIX}/bad/x.parquet", "--infer-schema-length", "100"],
        "Nothing was registered",
    ),
    "ls missing bucket": (["ls", "hf://buckets/local/no-such-bucket"], "was not found"),
    "du missing folder": (["du", f"{PREFIX}/no-such-folder/"], "Nothing in bucket"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_exits_1_with_one_line_and_registers_nothing(
    case: str, hub: LocalHub, api: HfApi, env: dict[str, str], data: Path
) -> None:
    args, needle = BAD[case]
    before = bucket_files(api, hub)
    result = cli(*args, env=env, cwd=data, stdin=b"a,b\n1,2\n" if "-" in args else None)
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hf-bucket-sink: error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert bucket_files(api, hub) == before


def test_no_token_exits_1_before_reading_anything(hub: LocalHub, api: HfApi, env: dict[str, str], data: Path, tmp_path: Path) -> None:
    no_token = {k: v for k, v in env.items() if k != "HF_TOKEN"}
    no_token["HF_HOME"] = str(tmp_path)  # no saved token either
    before = bucket_files(api, hub)
    for args in (
        ["cp", "flights.csv", f"{PREFIX}/bad/x.parquet"],
        ["sql", "SELECT * FROM f", "-t", "f=flights.csv", "--into", f"{PREFIX}/bad/q.parquet"],
    ):
        result = cli(*args, env=no_token, cwd=data)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and "needs a Hugging Face token" in result.stderr and "HF_TOKEN" in result.stderr
    assert bucket_files(api, hub) == before


def test_if_exists_error_keeps_the_existing_file(hub: LocalHub, api: HfApi, env: dict[str, str], data: Path) -> None:
    dest = f"{PREFIX}/exists/flights.parquet"
    ok_json(cli("cp", str(data / "flights.csv"), dest, "--null-value", "NA", "--json", env=env))
    before = bucket_files(api, hub)
    result = cli("cp", "parts/part-0.jsonl", dest, "--if-exists", "error", env=env, cwd=data)
    assert result.returncode == 1 and "--if-exists error" in result.stderr and result.stderr.count("\n") == 1
    assert bucket_files(api, hub) == before


@pytest.mark.parametrize("command", ["cp", "sql", "ls", "du"])
def test_help_has_examples(command: str, env: dict[str, str]) -> None:
    result = cli(command, "--help", env=env)
    assert result.returncode == 0 and "examples:" in result.stdout and "hf-bucket-sink " + command in result.stdout
