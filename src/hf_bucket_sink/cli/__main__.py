"""``python -m hf_bucket_sink.cli``: the same as the ``hf-bucket-sink`` command."""

import sys

from hf_bucket_sink.cli.main import main

sys.exit(main())
