"""The write options and the preflight without a JVM: validation, and no token in the pickled writer."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

pytest.importorskip("pyspark")

from huggingface_hub import HfApi  # noqa: E402
from pyspark.sql.types import LongType, StructField, StructType  # noqa: E402

from hf_bucket_sink.engines.spark.datasource import HFBucketDataSource, SparkWriteOptions  # noqa: E402
from hf_bucket_sink.errors import AuthenticationError, InvalidOptionError  # noqa: E402

SCHEMA = StructType([StructField("id", LongType()), StructField("k", LongType())])


@pytest.mark.parametrize(
    ("options", "overwrite", "message"),
    [
        ({"path": "hf://buckets/a/b/out/", "bogus": "1"}, False, "Unknown hfbucket option"),
        ({"path": "hf://buckets/a/b/out/", "format": "avro"}, False, "format="),
        ({"path": "hf://buckets/a/b/out/", "if_exists": "error"}, True, "contradict"),
        ({"path": "hf://buckets/a/b/out/", "partitionBy": "nope"}, False, "partitionBy"),
        ({"path": "hf://buckets/a/b/out/", "partitionBy": "id,k"}, False, "every column"),
        ({"path": "hf://buckets/a/b/out/", "rows_per_file": "0"}, False, "rows_per_file"),
        ({}, False, "needs a target"),
    ],
)
def test_bad_options_fail(options: dict[str, str], overwrite: bool, message: str) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        SparkWriteOptions.parse(options, overwrite, SCHEMA)


def test_token_option_never_reaches_the_pickled_writer(local_hub: Any) -> None:
    HfApi(endpoint=local_hub.url, token=local_hub.token).create_bucket(f"{local_hub.user}/opts", exist_ok=True)
    source = HFBucketDataSource({"path": f"hf://buckets/{local_hub.user}/opts/out/", "endpoint": local_hub.url, "token": local_hub.token})
    writer = source.writer(SCHEMA, True)  # the preflight passes with the option's token
    assert local_hub.token.encode() not in pickle.dumps(writer)  # what Spark ships to every task
    restored = pickle.loads(pickle.dumps(writer))
    assert restored._driver_hub().creds.token == local_hub.token  # commit() finds it on the driver...
    with pytest.raises(AuthenticationError):  # ...once: the stash is deleted after use
        restored._driver_hub()


def test_bad_token_fails_in_the_preflight(local_hub: Any) -> None:
    source = HFBucketDataSource({"path": f"hf://buckets/{local_hub.user}/none/out/", "endpoint": local_hub.url, "token": "hf_bad"})
    with pytest.raises(AuthenticationError):
        source.writer(SCHEMA, False)
