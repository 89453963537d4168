"""``install()`` / ``uninstall()``: hand ``hf://buckets`` paths in other libraries' own calls to this package.

>>> import fsspec, polars as pl, hf_bucket_sink
>>> hf_bucket_sink.install()
>>> lf.sink_parquet("hf://buckets/me/my-bucket/data.parquet")     # Polars' own method, routed
>>> fsspec.filesystem("hf")                                        # a BucketFileSystem now
>>> hf_bucket_sink.uninstall()                                     # both as they were

Two hooks, one in each layer below this module:

- Polars (:mod:`hf_bucket_sink.polars.install`): ``LazyFrame.sink_*``, ``DataFrame.write_*``,
  ``pl.scan_*`` / ``pl.read_*`` route bucket targets and sources here; other paths reach Polars
  untouched;
- fsspec (:mod:`hf_bucket_sink.engines.filesystem`): the ``hf`` protocol is the streaming
  :class:`~hf_bucket_sink.filesystem.BucketFileSystem` (pandas, pyarrow, DuckDB, Dask), and gets
  its previous filesystem back on ``uninstall()``.

This module sits above both layers so that neither reaches up to the other (the ``install()`` of
round 2 looked the fsspec filesystem up by name from the Polars layer). It is not named
``install.py``: a submodule of that name would replace the function ``hf_bucket_sink.install`` on
the package once imported directly.
"""

from __future__ import annotations

import threading

from hf_bucket_sink.engines.filesystem import register_filesystem, unregister_filesystem
from hf_bucket_sink.polars import install as polars_hook

__all__ = ["install", "uninstall"]

# one install/uninstall at a time, so two threads never leave one hook on and the other off
_lock = threading.Lock()


def install() -> None:
    """Route ``hf://buckets`` paths in Polars' methods and fsspec's ``hf`` protocol to hf-bucket-sink (idempotent).

    If the second hook cannot be installed, the first one is taken back before the error is
    raised: either both hooks are on, or neither one this call put on.
    """
    with _lock:
        polars_was_on = polars_hook.is_installed()
        polars_hook.install()
        try:
            register_filesystem()
        except BaseException:
            if not polars_was_on:
                polars_hook.uninstall()
            raise


def uninstall() -> None:
    """Give Polars its own methods and fsspec's ``hf`` protocol its previous filesystem back (idempotent).

    Both are restored even when one of them raises; the first error is raised after that.
    """
    with _lock:
        try:
            polars_hook.uninstall()
        finally:
            unregister_filesystem()
