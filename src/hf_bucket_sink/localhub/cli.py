"""``hf-bucket-sink serve``: run the local Hub from the command line until SIGINT / SIGTERM.

Example::

    $ hf-bucket-sink serve --port 0 --data-dir ./hub-data --extra-token alice:hf_alice:write
    Local Hub listening on http://127.0.0.1:41235  (data: /home/me/hub-data)
    ...
    export HF_ENDPOINT=http://127.0.0.1:41235 HF_TOKEN=hf_local_write_token
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from .faults import parse_rules
from .http import CLIENT_TIMEOUT
from .server import DEFAULT_TOKEN, DEFAULT_USER, LocalHub

__all__ = ["configure_parser", "run_serve"]

logger = logging.getLogger(__name__)


def _extra_token(value: str) -> tuple[str, str, str]:
    parts = value.split(":")
    if len(parts) != 3 or not all(parts) or parts[2] not in ("read", "write"):
        raise argparse.ArgumentTypeError(f"expected NAME:TOKEN:read|write, got {value!r}")
    return parts[0], parts[1], parts[2]


def _positive(kind: type[int] | type[float]):  # type: ignore[no-untyped-def]
    def parse(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
        if number <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
        return number

    return parse


#: ``--fault`` keys read as integers / kept as strings (every other key is a number of seconds or a rate).
_INT_KEYS = frozenset({"status", "after", "times", "partial_lines"})
_STR_KEYS = frozenset({"partial_answer"})


def _fault(value: str) -> tuple[str, dict[str, float | int | str | None]]:
    """``FAMILY:key=value[,key=value...]`` -> (family, settings), e.g. ``cas:error_rate=0.1,status=503``."""
    family, sep, spec = value.partition(":")
    if not sep or not family or not spec:
        raise argparse.ArgumentTypeError(f"expected FAMILY:key=value[,key=value], got {value!r}")
    settings: dict[str, float | int | str | None] = {}
    for item in spec.split(","):
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq:
            raise argparse.ArgumentTypeError(f"expected key=value in {value!r}, got {item!r}")
        if key in _STR_KEYS:
            settings[key] = raw
            continue
        try:
            number: float | None = None if raw in ("", "none", "null") else float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{key} must be a number in {value!r}, got {raw!r}") from None
        if key in _INT_KEYS and number is not None:
            if number != int(number):
                raise argparse.ArgumentTypeError(f"{key} must be an integer in {value!r}, got {raw!r}")
            settings[key] = int(number)
        else:
            settings[key] = number
    try:
        parse_rules({family: settings})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return family, settings


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` flags to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free port (default)")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="directory for buckets, xorbs and the catalog; kept across restarts (default: a temp dir, deleted on exit)",
    )
    parser.add_argument("--user", default=DEFAULT_USER, help="default user name (default: %(default)s)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="write token of the default user (default: %(default)s)")
    parser.add_argument(
        "--extra-token",
        action="append",
        default=[],
        type=_extra_token,
        metavar="NAME:TOKEN:read|write",
        help="another accepted token, for user NAME (repeatable)",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        help="base URL written into casUrl, data URLs and Link headers (e.g. behind a proxy); "
        "default: built from each request's Host header",
    )
    parser.add_argument(
        "--cas-token-ttl", type=_positive(float), default=3600.0, metavar="S",
        help="lifetime of Xet CAS tokens in seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--bandwidth-limit", type=_positive(float), default=None, metavar="BYTES_PER_S",
        help="cap CAS uploads and data/resolve downloads at this many bytes/s, shared (default: none)",
    )
    parser.add_argument(
        "--fault", action="append", default=[], type=_fault, metavar="FAMILY:key=value,...",
        help="inject faults into a route family or group (cas, hub, cas_xorb, xet_token, *...); keys: error_rate, "
        "status (429/500/502/503/504/408), retry_after, latency (s), drop_rate, after, times, and for hub_batch "
        "partial_lines, partial_answer (error/drop/report); e.g. --fault cas:error_rate=0.1,status=503,drop_rate=0.02 "
        "or --fault hub_batch:partial_lines=1000,after=1,times=1,partial_answer=report "
        "(repeatable; change at run time with PUT /_localhub/faults)",
    )
    parser.add_argument("--fault-seed", type=int, default=None, help="seed of the fault RNG, to replay a run")
    parser.add_argument("--dark", action="store_true", help='start "dark": accept connections, answer nothing until '
                        'PUT /_localhub/faults {"dark": false}')
    parser.add_argument(
        "--client-timeout", type=_positive(float), default=CLIENT_TIMEOUT, metavar="S",
        help="close a connection whose client is silent this long mid-request or between requests (default: %(default)s)",
    )
    parser.add_argument(
        "--admin-token", default=None,
        help="require 'Authorization: Bearer TOKEN' on /_localhub/ admin routes (default: loopback clients only)",
    )
    parser.add_argument(
        "--fsync", action="store_true", help="fsync every stored xorb before acknowledging it (durable, slower)"
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def run_serve(args: argparse.Namespace) -> int:
    """Start the hub described by ``args``, print how to use it, serve until SIGINT/SIGTERM."""
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        hub = LocalHub(
            args.data_dir,
            host=args.host,
            port=args.port,
            user=args.user,
            token=args.token,
            extra_tokens=args.extra_token,
            public_url=args.public_url,
            cas_token_ttl=args.cas_token_ttl,
            bandwidth_limit=args.bandwidth_limit,
            fsync=args.fsync,
            faults=dict(args.fault),
            fault_seed=args.fault_seed,
            dark=args.dark,
            client_timeout=args.client_timeout,
            admin_token=args.admin_token,
        )
        hub.start()
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"hf-bucket-sink serve: cannot start the local Hub: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        data = f"{hub.data_dir} (temporary, deleted on exit)" if args.data_dir is None else str(hub.data_dir)
        lines = [
            f"Local Hub listening on {hub.url}",
            f"  data dir:     {data}",
            f"  user:         {hub.user}  (write token: {hub.token})",
        ]
        lines += [f"  extra token:  {name} ({role}): {token}" for name, token, role in args.extra_token]
        lines += [
            "  admin:        GET /_localhub/stats, PUT /_localhub/bandwidth, PUT /_localhub/faults "
            + ("(needs the admin token)" if args.admin_token else "(loopback clients only)"),
            "",
            "Point clients at it:",
            f"  export HF_ENDPOINT={hub.url} HF_TOKEN={hub.token}",
            f"  python -c \"from huggingface_hub import HfApi; HfApi(endpoint='{hub.url}', token='{hub.token}')"
            ".create_bucket('my-bucket')\"",
            "",
            "Stop with Ctrl-C (SIGINT) or SIGTERM.",
        ]
        print("\n".join(lines), flush=True)
        while not stop.wait(0.5):
            pass
        print("Stopping the local Hub...", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        hub.stop()
    return 0
