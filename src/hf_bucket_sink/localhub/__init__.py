"""A local Hugging Face Hub for Storage Buckets: the bucket HTTP API plus a real Xet CAS server.

It imports nothing from the client side of ``hf_bucket_sink``. See ``LocalHub`` for use from Python
and ``hf-bucket-sink serve`` for the command line.
"""

from __future__ import annotations

from .server import DEFAULT_TOKEN, DEFAULT_USER, LocalHub

__all__ = ["DEFAULT_TOKEN", "DEFAULT_USER", "LocalHub"]
