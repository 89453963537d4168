"""Credential resolution: precedence, call-time environment, and typed errors for bad options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hf_bucket_sink import InvalidOptionError
from hf_bucket_sink.core.credentials import DEFAULT_ENDPOINT, resolve_credentials


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "hf-home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    return home


def test_defaults_without_anything() -> None:
    creds = resolve_credentials()
    assert creds.endpoint == DEFAULT_ENDPOINT
    assert creds.token is None and creds.token_source == "none"
    assert creds.headers() == {}


def test_precedence_option_env_file(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    (clean_env / "token").write_text("hf_from_file\n")
    assert resolve_credentials().token == "hf_from_file"
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    assert resolve_credentials().token == "hf_from_env"
    creds = resolve_credentials({"token": "hf_from_options"})
    assert creds.token == "hf_from_options" and creds.token_source == "storage_options"


def test_token_path_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token_file = tmp_path / "elsewhere"
    token_file.write_text("hf_elsewhere")
    monkeypatch.setenv("HF_TOKEN_PATH", str(token_file))
    assert resolve_credentials().token == "hf_elsewhere"


def test_endpoint_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    assert resolve_credentials().endpoint == "http://127.0.0.1:9"
    assert resolve_credentials({"endpoint": "http://localhost:1"}).endpoint == "http://localhost:1"


def test_token_is_never_in_repr() -> None:
    creds = resolve_credentials({"token": "hf_secret_value"})
    assert "hf_secret_value" not in repr(creds)
    assert creds.headers() == {"Authorization": "Bearer hf_secret_value"}


def test_unknown_key_lists_accepted_keys() -> None:
    with pytest.raises(InvalidOptionError) as info:
        resolve_credentials({"tokn": "x"})
    message = str(info.value)
    assert "'tokn'" in message and "'token'" in message and "'endpoint'" in message


@pytest.mark.parametrize(
    "options",
    [{"token": 3}, {"token": ""}, {"endpoint": "ftp://x"}, {"endpoint": "not a url"}, {"endpoint": 5}, "token=x"],
)
def test_bad_values_are_typed_errors(options: object) -> None:
    with pytest.raises(InvalidOptionError):
        resolve_credentials(options)  # type: ignore[arg-type]


@example(options={"token": "\x80"})  # was a bare UnicodeEncodeError from the HTTP layer (issue 21)
@example(options={"token": "hf_a b"})
@given(st.dictionaries(st.text(max_size=10), st.one_of(st.none(), st.integers(), st.text(max_size=30)), max_size=4))
def test_arbitrary_options_never_crash(options: dict[str, object]) -> None:
    try:
        creds = resolve_credentials(options)
    except InvalidOptionError as exc:
        assert str(exc)
    else:
        assert creds.endpoint.startswith(("http://", "https://"))
        # whatever is accepted must be sendable as an HTTP header value
        for value in creds.headers().values():
            value.encode("ascii")


@pytest.mark.parametrize("bad", ["\x80", "hf_é", "hf_\x01x", "hf_a b"])
def test_unsendable_tokens_are_typed_errors_from_every_source(
    bad: str, monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    with pytest.raises(InvalidOptionError, match=r"storage_options\['token'\]"):
        resolve_credentials({"token": bad})
    monkeypatch.setenv("HF_TOKEN", bad)
    with pytest.raises(InvalidOptionError, match="HF_TOKEN"):
        resolve_credentials()
    monkeypatch.delenv("HF_TOKEN")
    (clean_env / "token").write_text(bad, encoding="utf-8")
    with pytest.raises(InvalidOptionError, match="token"):
        resolve_credentials()


def test_unsendable_token_is_refused_before_any_request(local_hub: Any) -> None:
    import polars as pl

    import hf_bucket_sink

    before = sum(local_hub.stats()["requests"].values())
    with pytest.raises(InvalidOptionError):
        hf_bucket_sink.sink_parquet(
            pl.LazyFrame({"a": [1]}), f"hf://buckets/{local_hub.user}/b/x.parquet",
            storage_options={"token": "\x80", "endpoint": local_hub.url},
        )
    assert sum(local_hub.stats()["requests"].values()) == before


def test_token_resolved_through_huggingface_hub(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    # When the environment has not moved the token file, the token comes from huggingface_hub itself
    # (its file reading with OAuth refresh, Colab secrets), not from a copy of its logic.
    from huggingface_hub import constants

    import hf_bucket_sink.core.credentials as credentials

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(clean_env / "token"))

    monkeypatch.setattr(credentials, "hf_get_token", lambda: "hf_from_hub")
    assert resolve_credentials().token == "hf_from_hub"
