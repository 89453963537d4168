"""Resolve the Hub endpoint and token from ``storage_options`` and the environment.

Everything is read *at call time* (``huggingface_hub`` reads ``HF_ENDPOINT`` once at import,
which surprises notebooks and tests), with this precedence:

=========  ==========================================  =====================================
key        first found wins                            default
=========  ==========================================  =====================================
token      ``storage_options["token"]``, then what   none (writes then fail in preflight)
           ``huggingface_hub.get_token()`` finds:
           ``HF_TOKEN`` (or ``HUGGING_FACE_HUB_TOKEN``),
           the token file ``HF_TOKEN_PATH`` /
           ``$HF_HOME/token``, Colab secrets
endpoint   ``storage_options["endpoint"]``,             ``https://huggingface.co``
           ``HF_ENDPOINT``
=========  ==========================================  =====================================

A token must be printable ASCII without whitespace (it travels in an HTTP header); anything else
is an :class:`~hf_bucket_sink.InvalidOptionError` naming where the token came from, raised here
rather than as a ``UnicodeEncodeError`` from the HTTP layer.

>>> creds = resolve_credentials({"token": "hf_xxx", "endpoint": "http://127.0.0.1:8080"})
>>> creds.endpoint
'http://127.0.0.1:8080'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from huggingface_hub import constants as hf_constants
from huggingface_hub import get_token as hf_get_token

from hf_bucket_sink.errors import InvalidOptionError

__all__ = ["HubCredentials", "resolve_credentials", "STORAGE_OPTIONS", "DEFAULT_ENDPOINT"]

DEFAULT_ENDPOINT = "https://huggingface.co"

#: Accepted ``storage_options`` keys and what they mean (shown in error messages).
STORAGE_OPTIONS: dict[str, str] = {
    "token": "Hugging Face access token (default: HF_TOKEN, then the token file of `hf auth login`)",
    "endpoint": "Hub base URL (default: HF_ENDPOINT, then https://huggingface.co)",
}


@dataclass(frozen=True, slots=True)
class HubCredentials:
    """Where to talk to (``endpoint``) and as whom (``token``); the token never shows in ``repr``."""

    endpoint: str
    token: str | None = field(default=None, repr=False)
    #: where the token came from ("storage_options", "HF_TOKEN", a file path, or "none"), for messages
    token_source: str = "none"

    def headers(self) -> dict[str, str]:
        """HTTP headers that authenticate a Hub request."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def _token_file() -> Path:
    # huggingface_hub computes HF_TOKEN_PATH once, at import; recompute it the same way per call so
    # HF_TOKEN_PATH / HF_HOME set later (notebooks, tests) are honoured.
    default = os.path.join(
        os.environ.get("HF_HOME")
        or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"),
        "token",
    )
    return Path(os.path.expandvars(os.path.expanduser(os.environ.get("HF_TOKEN_PATH") or default)))


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.replace("\r", "").replace("\n", "").strip()
    return value or None


def _checked(token: str, source: str) -> str:
    # Tokens are sent as an HTTP header: a non-ASCII or control character would otherwise surface
    # as a bare UnicodeEncodeError (or a mangled header) from deep inside the HTTP client.
    if not (token.isascii() and token.isprintable()) or any(ch.isspace() for ch in token):
        raise InvalidOptionError(
            f"The Hugging Face token from {source} contains characters a token cannot have (non-ASCII, "
            "control characters or spaces), so it cannot be sent to the Hub; nothing was sent. Copy the "
            "token again from https://huggingface.co/settings/tokens (it looks like 'hf_...')."
        )
    return token


def _implicit_token() -> tuple[str | None, str]:
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        env = _clean(os.environ.get(var))
        if env:
            return env, var
    path = _token_file()
    if path != Path(hf_constants.HF_TOKEN_PATH):
        # The environment moved the token file since huggingface_hub was imported: its cached
        # constant points elsewhere, so read the file the environment names now.
        try:
            return _clean(path.read_text(encoding="utf-8")), str(path)
        except FileNotFoundError:
            return None, "none"
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidOptionError(
                f"Could not read the Hugging Face token file {path}: {exc}. Fix the file (or its "
                "permissions), or pass storage_options={'token': ...} or set HF_TOKEN."
            ) from exc
    try:
        # The token file (refreshing OAuth logins), then Colab secrets, exactly as huggingface_hub does.
        token = hf_get_token()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidOptionError(
            f"Could not read the Hugging Face token file {path}: {exc}. Fix the file (or its "
            "permissions), or pass storage_options={'token': ...} or set HF_TOKEN."
        ) from exc
    if not token:
        return None, "none"
    return token, str(path) if path.is_file() else "huggingface_hub.get_token()"


def _resolve_token(options: Mapping[str, Any]) -> tuple[str | None, str]:
    if "token" in options and options["token"] is not None:
        token = options["token"]
        if not isinstance(token, str) or not _clean(token):
            raise InvalidOptionError(
                "storage_options['token'] must be a non-empty string (a Hugging Face access token, "
                f"e.g. 'hf_...'), not {type(token).__name__}. Create one at https://huggingface.co/settings/tokens."
            )
        return _checked(_clean(token) or "", "storage_options['token']"), "storage_options"
    token, source = _implicit_token()
    return (None if token is None else _checked(token, source)), source


def _resolve_endpoint(options: Mapping[str, Any]) -> str:
    source = "storage_options['endpoint']"
    endpoint = options.get("endpoint")
    if endpoint is None:
        endpoint, source = os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT, "HF_ENDPOINT"
    if not isinstance(endpoint, str):
        raise InvalidOptionError(f"{source} must be a URL string such as {DEFAULT_ENDPOINT!r}, not {type(endpoint).__name__}.")
    endpoint = endpoint.strip().rstrip("/")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InvalidOptionError(
            f"{source}={endpoint!r} is not a Hub base URL: use http(s)://host[:port], e.g. {DEFAULT_ENDPOINT!r} "
            "or the URL printed by `hf-bucket-sink serve`."
        )
    return endpoint


def resolve_credentials(storage_options: Mapping[str, Any] | None = None) -> HubCredentials:
    """Validate ``storage_options`` and resolve endpoint and token (see the module docstring).

    Raises :class:`~hf_bucket_sink.InvalidOptionError` for unknown keys or values of the wrong type.
    """
    options: Mapping[str, Any] = {} if storage_options is None else storage_options
    if not isinstance(options, Mapping):
        raise InvalidOptionError(
            f"storage_options must be a dict such as {{'token': 'hf_...'}}, not {type(options).__name__}."
        )
    unknown = sorted(str(k) for k in options if k not in STORAGE_OPTIONS)
    if unknown:
        accepted = "; ".join(f"{k!r}: {v}" for k, v in STORAGE_OPTIONS.items())
        raise InvalidOptionError(f"Unknown storage_options key(s) {', '.join(map(repr, unknown))}. Accepted keys: {accepted}.")
    token, source = _resolve_token(options)
    return HubCredentials(endpoint=_resolve_endpoint(options), token=token, token_source=source)
