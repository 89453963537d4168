"""Who may do what: Hub tokens, namespaces, private buckets, read-only tokens, scoped CAS tokens."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hf_xet
import pytest
from huggingface_hub import HfApi, HfFileSystem
from huggingface_hub.errors import BucketNotFoundError, HfHubHTTPError, RepositoryNotFoundError


@pytest.fixture
def other_api(local_hub: Any, hub_tokens: dict[str, str]) -> HfApi:
    return HfApi(endpoint=local_hub.url, token=hub_tokens["other"])


@pytest.fixture
def read_api(local_hub: Any, hub_tokens: dict[str, str]) -> HfApi:
    return HfApi(endpoint=local_hub.url, token=hub_tokens["read"])


def _cas_token(raw_http: Any, bucket: str, token: str, access: str = "read") -> tuple[str, str]:
    """(CAS bearer token, CAS path prefix) from the Hub's xet token route."""
    resp = raw_http.request("GET", f"/api/buckets/{bucket}/xet-{access}-token", token=token)
    assert resp.status == 200, resp.body
    body = resp.json()
    assert resp.headers["X-Xet-Access-Token"] == body["accessToken"]
    assert resp.headers["X-Xet-Cas-Url"] == body["casUrl"]
    assert int(resp.headers["X-Xet-Token-Expiration"]) == body["exp"]
    return body["accessToken"], urlsplit(body["casUrl"]).path


def test_wrong_token_is_401(local_hub: Any) -> None:
    bad = HfApi(endpoint=local_hub.url, token="hf_not_a_token")
    for call in (bad.whoami, lambda: bad.create_bucket("x"), lambda: bad.bucket_info("local/x")):
        with pytest.raises(HfHubHTTPError) as err:
            call()
        assert err.value.response.status_code == 401
        assert err.value.response.json() == {"error": "Invalid username or password."}


def test_anonymous_cannot_write(local_hub: Any, hf_api: HfApi) -> None:
    hf_api.create_bucket("pub")
    anon = HfApi(endpoint=local_hub.url, token=False)
    with pytest.raises(HfHubHTTPError) as err:
        anon.create_bucket("local/anon")
    assert err.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as err:
        anon.batch_bucket_files("local/pub", delete=["x"])
    assert err.value.response.status_code == 401


def test_private_bucket_of_another_user_is_invisible(hf_api: HfApi, other_api: HfApi, raw_http: Any) -> None:
    other_api.create_bucket("secret", private=True)
    other_api.batch_bucket_files("other/secret", add=[(b"classified", "s.txt")])
    with pytest.raises(BucketNotFoundError):
        hf_api.bucket_info("other/secret")
    with pytest.raises(BucketNotFoundError):
        list(hf_api.list_bucket_tree("other/secret"))
    with pytest.raises(BucketNotFoundError):
        list(hf_api.get_bucket_paths_info("other/secret", ["s.txt"]))
    with pytest.raises(RepositoryNotFoundError):  # resolve URLs are not /api/buckets/ URLs
        hf_api.get_bucket_file_metadata("other/secret", "s.txt")
    assert "other/secret" not in {b.id for b in hf_api.list_buckets("other")}
    for access in ("read", "write"):
        resp = raw_http.request("GET", f"/api/buckets/other/secret/xet-{access}-token", token=hf_api.token)
        assert resp.status == 404 and resp.headers["X-Error-Code"] == "RepoNotFound"
    with pytest.raises(BucketNotFoundError):
        hf_api.batch_bucket_files("other/secret", delete=["s.txt"])
    assert [f.path for f in other_api.list_bucket_tree("other/secret")] == ["s.txt"]


def test_public_bucket_of_another_user_is_readable_not_writable(
    hf_api: HfApi, other_api: HfApi, local_hub: Any, tmp_path: Path, raw_http: Any
) -> None:
    other_api.create_bucket("shared")
    data = os.urandom(200_000)
    other_api.batch_bucket_files("other/shared", add=[(data, "d.bin")])
    assert hf_api.bucket_info("other/shared").total_files == 1
    hf_api.download_bucket_files("other/shared", [("d.bin", tmp_path / "d.bin")])
    assert (tmp_path / "d.bin").read_bytes() == data
    with pytest.raises(HfHubHTTPError) as err:
        hf_api.batch_bucket_files("other/shared", delete=["d.bin"])
    assert err.value.response.status_code == 403
    assert "write access" in err.value.response.headers["X-Error-Message"]
    resp = raw_http.request("GET", "/api/buckets/other/shared/xet-write-token", token=hf_api.token)
    assert resp.status == 403
    with pytest.raises(HfHubHTTPError) as err:
        hf_api.create_bucket("other/mine")
    assert err.value.response.status_code == 403
    # anonymous readers too, through HfFileSystem and through Xet
    anon_fs = HfFileSystem(endpoint=local_hub.url, token=False, skip_instance_cache=True)
    assert anon_fs.cat("hf://buckets/other/shared/d.bin") == data
    HfApi(endpoint=local_hub.url, token=False).download_bucket_files("other/shared", [("d.bin", tmp_path / "a.bin")])
    assert (tmp_path / "a.bin").read_bytes() == data


def test_read_token_cannot_write(hf_api: HfApi, read_api: HfApi, raw_http: Any, hub_tokens: dict[str, str]) -> None:
    hf_api.create_bucket("priv", private=True)
    hf_api.batch_bucket_files("local/priv", add=[(b"mine", "m.txt")])
    assert read_api.bucket_info("local/priv").private  # reading its own user's private bucket is fine
    assert [f.path for f in read_api.list_bucket_tree("local/priv")] == ["m.txt"]
    with pytest.raises(HfHubHTTPError) as err:
        read_api.batch_bucket_files("local/priv", delete=["m.txt"])
    assert err.value.response.status_code == 403
    assert "read-only" in err.value.response.headers["X-Error-Message"]
    resp = raw_http.request("GET", "/api/buckets/local/priv/xet-write-token", token=hub_tokens["read"])
    assert resp.status == 403 and "read-only" in resp.headers["X-Error-Message"]
    with pytest.raises(HfHubHTTPError) as err:
        read_api.create_bucket("new-one")
    assert err.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as err:
        read_api.delete_bucket("local/priv")
    assert err.value.response.status_code == 403
    assert read_api.whoami()["auth"]["accessToken"]["role"] == "read"


def test_read_cas_token_cannot_upload(hf_api: HfApi, raw_http: Any) -> None:
    hf_api.create_bucket("b")
    token, cas = _cas_token(raw_http, "local/b", hf_api.token, "read")
    xorb = "00" * 32
    for method, path, body in [
        ("POST", f"{cas}/v1/xorbs/default/{xorb}", b"\x00" * 1000),
        ("POST", f"{cas}/v1/xorb-grants/default/{xorb}", b'{"length": 10}'),
        ("POST", f"{cas}/v1/shards", b"\x00" * 500),
        ("POST", f"{cas}/v2/shards", b"\x00" * 500),
    ]:
        resp = raw_http.request(method, path, body, token=token)
        assert resp.status == 403, (path, resp.status)
    # the connection survived every early refusal (bodies were drained)
    assert raw_http.request("GET", f"{cas}/v1/chunks/default/{xorb}", token=token).status == 404


def test_cas_token_is_scoped_to_its_bucket(hf_api: HfApi, other_api: HfApi, raw_http: Any) -> None:
    hf_api.create_bucket("mine")
    other_api.create_bucket("theirs", private=True)
    other_api.batch_bucket_files("other/theirs", add=[(b"private bytes" * 1000, "p.bin")])
    [entry] = list(other_api.list_bucket_tree("other/theirs"))
    token, cas = _cas_token(raw_http, "local/mine", hf_api.token)
    resp = raw_http.request("GET", f"{cas}/v1/reconstructions/{entry.xet_hash}", token=token)
    assert resp.status == 404  # knowing the hash is not enough
    own, _ = _cas_token(raw_http, "other/theirs", other_api.token)
    assert raw_http.request("GET", f"{cas}/v1/reconstructions/{entry.xet_hash}", token=own).status == 200
    assert raw_http.request("GET", f"{cas}/v1/reconstructions/{entry.xet_hash}").status == 401
    assert raw_http.request("GET", f"{cas}/v1/reconstructions/{entry.xet_hash}", token=own + "x").status == 401


def test_expired_cas_token_is_401(local_hub_factory: Any, make_raw_http: Any) -> None:
    hub = local_hub_factory(cas_token_ttl=1)
    HfApi(endpoint=hub.url, token=hub.token).create_bucket("b")
    raw = make_raw_http(hub.url)
    token, cas = _cas_token(raw, "local/b", hub.token)
    assert raw.request("GET", f"{cas}/v1/chunks/default/{'00' * 32}", token=token).status == 404
    time.sleep(1.2)
    resp = raw.request("GET", f"{cas}/v1/chunks/default/{'00' * 32}", token=token)
    assert resp.status == 401 and "expired" in resp.json()["error"]


def test_short_ttl_tokens_are_refreshed_during_an_upload(local_hub_factory: Any) -> None:
    """hf_xet refreshes when exp <= now + 30 s: a 32 s TTL forces refreshes within a ~3 s upload."""
    hub = local_hub_factory(cas_token_ttl=32, bandwidth_limit=8_000_000)
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("slow")
    data = os.urandom(24_000_000)
    started = time.monotonic()
    api.batch_bucket_files("local/slow", add=[(data, "slow.bin")])
    assert time.monotonic() - started > 2.5  # the link really was throttled past the refresh point
    stats = hub.stats()
    assert stats["requests"]["xet_token"] >= 2
    assert stats["responses"].get("4xx", 0) <= stats["dedup_queries"]  # only dedup misses, no 401s
    hub.set_bandwidth_limit(None)
    [entry] = list(api.get_bucket_paths_info("local/slow", ["slow.bin"]))
    group = hf_xet.XetSession().new_download_stream_group(
        token_refresh_url=f"{hub.url}/api/buckets/local/slow/xet-read-token",
        token_refresh_headers={"Authorization": f"Bearer {hub.token}"},
    )
    assert b"".join(group.download_stream(hf_xet.XetFileInfo(entry.xet_hash, entry.size))) == data


def test_tokens_shorter_than_the_refresh_margin_still_work(local_hub_factory: Any, tmp_path: Path) -> None:
    """With a TTL under hf_xet's 30 s margin, the client refreshes before every CAS request."""
    hub = local_hub_factory(cas_token_ttl=3)
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("tiny")
    data = os.urandom(2_000_000)
    api.batch_bucket_files("local/tiny", add=[(data, "t.bin")])
    api.download_bucket_files("local/tiny", [("t.bin", tmp_path / "t.bin")])
    assert (tmp_path / "t.bin").read_bytes() == data
    assert hub.stats()["requests"]["xet_token"] >= 4


def test_add_file_of_a_hash_uploaded_for_another_users_bucket_is_refused(
    hf_api: HfApi, other_api: HfApi, raw_http: Any
) -> None:
    """Tenancy: knowing the Xet hash of another user's private file must not let you publish its bytes."""
    other_api.create_bucket("vault", private=True)
    other_api.batch_bucket_files("other/vault", add=[(b"private payroll bytes", "pay.csv")])
    (stolen,) = [f.xet_hash for f in other_api.list_bucket_tree("other/vault") if f.path == "pay.csv"]
    hf_api.create_bucket("mine")
    line = {"type": "addFile", "path": "stolen.csv", "xetHash": stolen, "mtime": 0}
    resp = raw_http.request(
        "POST", f"/api/buckets/{hf_api.whoami()['name']}/mine/batch", body=json.dumps(line) + "\n",
        headers={"Content-Type": "application/x-ndjson"}, token=hf_api.token,
    )
    assert resp.status != 200 or resp.json().get("failed"), resp.body
    copy = {"type": "copyFile", "path": "copied.csv", "xetHash": stolen, "sourceRepoType": "bucket", "sourceRepoId": "other/vault"}
    resp = raw_http.request(
        "POST", f"/api/buckets/{hf_api.whoami()['name']}/mine/batch", body=json.dumps(copy) + "\n",
        headers={"Content-Type": "application/x-ndjson"}, token=hf_api.token,
    )
    assert resp.status != 200 or resp.json().get("failed"), resp.body
    assert [f.path for f in hf_api.list_bucket_tree(f"{hf_api.whoami()['name']}/mine", recursive=True)] == []
