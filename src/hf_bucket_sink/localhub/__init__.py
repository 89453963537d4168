"""A local Hugging Face Hub for Storage Buckets: the bucket HTTP API plus a real Xet CAS server.

It imports nothing from the client side of ``hf_bucket_sink``. See ``LocalHub`` for use from Python
and ``hf-bucket-sink serve`` for the command line.
"""

from __future__ import annotations

try:  # the server-only dependencies (the [localhub] extra): a client that only talks to the real Hub needs neither
    import blake3  # noqa: F401
    import lz4.frame  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"The local Hub needs its server-only dependencies ({exc.name} is missing): "
        "pip install 'hf-bucket-sink[localhub]'."
    ) from exc

from .server import DEFAULT_TOKEN, DEFAULT_USER, LocalHub

__all__ = ["DEFAULT_TOKEN", "DEFAULT_USER", "LocalHub"]
