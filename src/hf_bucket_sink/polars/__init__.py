"""The Polars integration: sinks and scans over ``hf://buckets``, ``install()``, backpressure, CDC.

- ``sinks``         ``sink_*`` / ``write_*``: Polars hands its encoded bytes to a ``core.writers`` file
- ``scans``         ``scan_*`` / ``read_*``
- ``install``       ``install()`` / ``uninstall()``: Polars' own methods accept bucket paths
- ``backpressure``  Polars' morsels sized to a memory budget while a sink runs
- ``cdc``           content-defined-chunking Parquet through pyarrow, fed from the Polars stream
"""
