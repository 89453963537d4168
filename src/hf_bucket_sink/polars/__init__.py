"""The Polars integration: sinks and scans over ``hf://buckets``, ``install()``, backpressure, CDC.

- ``sinks``         ``sink_*`` / ``write_*``: Polars hands its encoded bytes to a ``core.writers`` file
- ``scans``         ``scan_*`` / ``read_*``
- ``install``       ``install()`` / ``uninstall()``: Polars' own methods accept bucket paths
- ``backpressure``  Polars' morsels sized to a memory budget while a sink runs
- ``cdc``           content-defined-chunking Parquet through pyarrow, fed from the Polars stream
- ``compat``        the one place that knows Polars internals and version-specific behaviour
"""

from hf_bucket_sink.polars.compat import check_polars_version

check_polars_version()  # outside the tested range the internals may have moved: fail at import, not mid-write

__all__: list[str] = []
