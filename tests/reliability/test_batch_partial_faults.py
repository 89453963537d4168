"""Partially applied ``/batch`` requests: the real Hub's batch is not transactional, so the local Hub
can apply only the first N lines of a request and then answer 5xx, drop the connection, or report
the rest as ``failed`` (``partial_lines`` / ``partial_answer`` / ``after`` / ``times``).

Every test first proves the fault fired (``stats()["faults"]["injected"]``), then checks with
paths-info exactly which lines were applied.
"""

from __future__ import annotations

import argparse
import http.client
import json
from typing import Any

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import BucketBatchError

from hf_bucket_sink.localhub.cli import configure_parser

BUCKET = "local/data"
#: the client splits a 2,500-operation commit into requests of 1000, 1000 and 500 lines
COMMIT = 2500
CHUNK = 1000


def _seed(hub: Any) -> tuple[HfApi, str]:
    """A bucket with one uploaded file; returns the API and that file's Xet hash (copy source)."""
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("data")
    api.batch_bucket_files(BUCKET, add=[(b"partial batch seed", "seed.txt")])
    (info,) = api.get_bucket_paths_info(BUCKET, ["seed.txt"])
    return api, info.xet_hash


def _lines(xet_hash: str, paths: list[str]) -> bytes:
    return b"".join(
        json.dumps({"type": "addFile", "path": p, "xetHash": xet_hash, "mtime": 1_700_000_000_000}).encode() + b"\n"
        for p in paths
    )


def _post_batch(hub: Any, body: bytes, token: str | None = None) -> tuple[int | None, Any]:
    """(status, report) of a raw POST …/batch; (None, exception) when the connection is cut."""
    conn = http.client.HTTPConnection(hub.host, hub.port, timeout=30)
    try:
        conn.request("POST", f"/api/buckets/{BUCKET}/batch", body=body, headers={
            "Authorization": f"Bearer {token or hub.token}", "Content-Type": "application/x-ndjson"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
        return None, exc
    finally:
        conn.close()


def _present(hub: Any, paths: list[str]) -> list[str]:
    conn = http.client.HTTPConnection(hub.host, hub.port, timeout=30)
    try:
        conn.request("POST", f"/api/buckets/{BUCKET}/paths-info", body=json.dumps({"paths": paths}),
                     headers={"Authorization": f"Bearer {hub.token}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200
        return sorted(e["path"] for e in json.loads(resp.read()))
    finally:
        conn.close()


def _injected(hub: Any) -> dict[str, int]:
    return hub.stats()["faults"]["injected"]


@pytest.mark.parametrize("keep", [0, 1, 7, 10])
@pytest.mark.parametrize("answer", ["error", "drop", "report"])
def test_applies_exactly_the_first_lines_then_answers(local_hub_factory: Any, answer: str, keep: int) -> None:
    hub = local_hub_factory()
    _, xet_hash = _seed(hub)
    hub.set_faults({"hub_batch": {"partial_lines": keep, "partial_answer": answer, "times": 1}})
    paths = [f"f/{i:02d}" for i in range(10)]
    status, report = _post_batch(hub, _lines(xet_hash, paths))

    injected = _injected(hub)
    assert injected["partial_batches"] == 1 and injected[f"partial_batches_{answer}:hub_batch"] == 1
    assert injected["partial_lines_applied"] == keep and injected["partial_lines_withheld"] == 10 - keep
    assert _present(hub, paths) == paths[:keep]
    if answer == "error":
        assert status == 503 and report["error"].startswith("Injected fault")
    elif answer == "drop":
        assert status is None, f"expected a cut connection, got {status} {report}"
    else:
        assert status == 200
        assert report["success"] is False and report["processed"] == 10 and report["succeeded"] == keep
        assert [f["path"] for f in report["failed"]] == paths[keep:]
        assert all("Injected fault" in f["error"] for f in report["failed"])

    # times=1: the same request again is applied in full and answered normally
    status, report = _post_batch(hub, _lines(xet_hash, paths))
    assert (status, report["success"], report["succeeded"]) == (200, True, 10)
    assert _present(hub, paths) == paths
    assert _injected(hub)["partial_batches"] == 1


def test_report_keeps_the_real_failures_of_the_applied_lines(local_hub_factory: Any) -> None:
    hub = local_hub_factory()
    _, xet_hash = _seed(hub)
    hub.set_faults({"hub_batch": {"partial_lines": 2, "partial_answer": "report"}})
    body = _lines(xet_hash, ["ok"]) + _lines("ab" * 32, ["unknown-hash"]) + _lines(xet_hash, ["withheld"])
    status, report = _post_batch(hub, body)
    assert status == 200 and _injected(hub)["partial_batches"] == 1
    assert (report["processed"], report["succeeded"]) == (3, 1)
    assert [f["path"] for f in report["failed"]] == ["unknown-hash", "withheld"]
    assert "unknown xetHash" in report["failed"][0]["error"]
    assert _present(hub, ["ok", "unknown-hash", "withheld"]) == ["ok"]


def test_a_refused_batch_is_not_faulted(local_hub_factory: Any) -> None:
    hub = local_hub_factory(extra_tokens=[("local", "hf_read_only", "read")])
    _, xet_hash = _seed(hub)
    hub.set_faults({"hub_batch": {"partial_lines": 1, "partial_answer": "drop"}})
    status, report = _post_batch(hub, _lines(xet_hash, ["a", "b"]), token="hf_read_only")
    assert status == 403  # the real answer, untouched: nothing was applied, so nothing to cut
    injected = _injected(hub)
    assert injected.get("partial_batches", 0) == 0 and injected["partial_batch_passed"] == 1


def _commit_requests(xet_hash: str) -> tuple[list[str], list[bytes]]:
    """The 2,500 paths of one commit and its /batch bodies, cut like huggingface_hub cuts them."""
    paths = [f"commit/{i:05d}" for i in range(COMMIT)]
    return paths, [_lines(xet_hash, paths[i:i + CHUNK]) for i in range(0, COMMIT, CHUNK)]


@pytest.mark.parametrize("answer", ["error", "drop", "report"])
def test_a_fault_at_every_batch_boundary(local_hub_factory: Any, answer: str) -> None:
    """``after`` = k-1 places the fault in the k-th request; ``partial_lines`` at 0, 1, all-but-one."""
    hub = local_hub_factory()
    _, xet_hash = _seed(hub)
    paths, bodies = _commit_requests(xet_hash)
    fired = 0
    for k, body in enumerate(bodies):
        size = min(CHUNK, COMMIT - k * CHUNK)
        for keep in (0, 1, size - 1):
            # start each case from an empty commit area (a delete batch with faults off)
            hub.set_faults({})
            _post_batch(hub, b"".join(json.dumps({"type": "deleteFile", "path": p}).encode() + b"\n" for p in paths))
            hub.set_faults({"hub_batch": {"partial_lines": keep, "partial_answer": answer, "after": k, "times": 1}})
            statuses = [_post_batch(hub, b)[0] for b in bodies]
            fault = hub.stats()["faults"]
            fired += 1
            assert fault["injected"]["partial_batches"] == fired and fault["matched"]["hub_batch"] == len(bodies)
            expected_status = {"error": 503, "drop": None, "report": 200}[answer]
            assert statuses == [200 if i != k else expected_status for i in range(len(bodies))], (k, keep)
            applied = set(_present(hub, paths))
            first = k * CHUNK
            assert applied == set(paths) - set(paths[first + keep:first + size]), (k, keep)


def test_huggingface_hub_retries_a_5xx_partial_batch_and_completes(local_hub_factory: Any) -> None:
    hub = local_hub_factory()
    api, xet_hash = _seed(hub)
    paths = [f"c/{i:05d}" for i in range(COMMIT)]
    hub.set_faults({"hub_batch": {"partial_lines": 500, "after": 1, "times": 1, "retry_after": 0}})
    api.batch_bucket_files(BUCKET, copy=[("bucket", BUCKET, xet_hash, p) for p in paths])
    fault = hub.stats()["faults"]
    assert fault["injected"]["partial_batches_error"] == 1
    assert fault["matched"]["hub_batch"] == 4  # 3 chunks + the retry of the second
    assert _present(hub, paths) == paths


def test_huggingface_hub_reports_the_withheld_lines(local_hub_factory: Any) -> None:
    hub = local_hub_factory()
    api, xet_hash = _seed(hub)
    paths = [f"c/{i:05d}" for i in range(COMMIT)]
    hub.set_faults({"hub_batch": {"partial_lines": 500, "after": 1, "times": 1, "partial_answer": "report"}})
    with pytest.raises(BucketBatchError) as info:
        api.batch_bucket_files(BUCKET, copy=[("bucket", BUCKET, xet_hash, p) for p in paths])
    assert _injected(hub)["partial_batches_report"] == 1
    assert [f["path"] for f in info.value.failures] == paths[1500:2000]
    assert _present(hub, paths) == paths[:1500] + paths[2000:]  # the third chunk still ran: not transactional


def test_set_over_the_admin_route_and_the_cli(local_hub_factory: Any) -> None:
    hub = local_hub_factory()
    conn = http.client.HTTPConnection(hub.host, hub.port, timeout=10)
    rule = {"partial_lines": 3, "partial_answer": "report", "after": 2, "times": 1}
    conn.request("PUT", "/_localhub/faults", body=json.dumps({"rules": {"hub_batch": rule}}))
    resp = conn.getresponse()
    snap = json.loads(resp.read())
    assert resp.status == 200 and snap["rules"]["hub_batch"]["partial_lines"] == 3 and snap["matched"] == {}
    for bad in ({"cas": {"partial_lines": 1}}, {"hub_batch": {"partial_answer": "explode"}},
                {"hub_batch": {"times": 0}}, {"hub_batch": {"after": -1}}, {"hub_batch": {"partial_lines": 1.5}}):
        conn.request("PUT", "/_localhub/faults", body=json.dumps({"rules": bad}))
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 400, bad
    conn.close()

    parser = argparse.ArgumentParser()
    configure_parser(parser)
    args = parser.parse_args(["--fault", "hub_batch:partial_lines=1000,after=1,times=1,partial_answer=drop"])
    assert dict(args.fault)["hub_batch"] == {"partial_lines": 1000, "after": 1, "times": 1, "partial_answer": "drop"}
    for bad in ("hub_batch:partial_lines=1.5", "cas:partial_lines=1", "hub_batch:partial_answer=nope",
                "hub_batch:times=0"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--fault", bad])
