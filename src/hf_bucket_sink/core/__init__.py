"""The client core: talks to the Hub and to Xet storage, and knows nothing of any engine.

- ``paths``        ``BucketPath``: parse and validate ``hf://buckets/<ns>/<bucket>/<path>``
- ``credentials``  token and endpoint, through ``huggingface_hub``'s own lookup, read at call time
- ``settings``     the ``HF_BUCKET_SINK_*`` tuning variables, read when a session starts
- ``hub``          ``HubClient``: the bucket HTTP API, and the one HTTP-answer -> typed-error translator
- ``xet``          hf_xet sessions (one per configuration) and the upload stall watchdog
- ``writers``      the files engines write into: ``BucketWriter`` (one big file), ``PartitionWriter``
- ``upload``       ``UploadSession``: one hf_xet upload commit; files are stored, not yet visible
- ``commit``       the commit protocol: the one place where stored files become visible
- ``rows``, ``result``, ``progress``, ``remote_file``  row counts, results, progress line, range reads

Engines (``hf_bucket_sink.polars``, ``hf_bucket_sink.engines``) build on the names these modules
declare in ``__all__``; nothing here imports an engine.
"""
