"""Engine writers and readers other than Polars, each turning its engine's calls into core calls.

- ``ray/``         Ray Data ``Datasink``, reader and pyarrow filesystem (public: ``hf_bucket_sink.ray``)
- ``filesystem/``  the fsspec filesystem (public: ``hf_bucket_sink.filesystem``)
- ``spark/``       the PySpark data source (public: ``hf_bucket_sink.spark``)

Each is imported only when asked for, so the package never needs the engine installed.
"""
