"""Engine writers and readers other than Polars, each turning its engine's calls into core calls.

- ``ray``  Ray Data ``Datasink`` and reader (public entry point: ``hf_bucket_sink.ray``)

Each is imported only when asked for, so the package never needs the engine installed.
"""
