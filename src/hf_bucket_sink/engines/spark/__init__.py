"""Spark integration: a PySpark Python Data Source ``hfbucket`` (public name: :mod:`hf_bucket_sink.spark`)."""

__all__: list[str] = []
