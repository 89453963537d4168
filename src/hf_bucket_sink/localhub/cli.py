"""``hf-bucket-sink serve``: run the local Hub from the command line until SIGINT / SIGTERM.

Safe by default: without ``--token`` a random token is generated and printed; binding a
non-loopback address needs an explicit ``--token`` (the random one would be printed to a console
the network cannot see, and a guessable default would hand the hub to the network).

Example::

    $ hf-bucket-sink serve --port 0 --data-dir ./hub-data --extra-token alice:hf_alice:write
    Local Hub listening on http://127.0.0.1:41235
    ...
    export HF_ENDPOINT=http://127.0.0.1:41235 HF_TOKEN=hf_local_3q2...
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import secrets
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .faults import parse_rules
from .gc import DEFAULT_GRACE, collect_offline, result_json
from .http import CLIENT_TIMEOUT, HEADER_TIMEOUT, MAX_CONNECTIONS
from .server import DEFAULT_USER, LocalHub

__all__ = ["configure_parser", "is_loopback_host", "run_gc", "run_serve"]

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


def is_loopback_host(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, ``localhost``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


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
    parser.add_argument(
        "--token", default=None,
        help="write token of the default user (default: a random token, printed at start; required with a "
        "non-loopback --host)",
    )
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
        help="base URL written into casUrl, bucket URLs and Link headers (e.g. behind a proxy); "
        "default: http://HOST:PORT of the listening socket (never the request's Host header)",
    )
    parser.add_argument(
        "--cdn-port", type=int, default=0,
        help="port of the second origin that serves signed, token-free download URLs (resolve redirects, "
        "xorb data); 0 picks a free port (default)",
    )
    parser.add_argument(
        "--cdn-public-url", default=None,
        help="base URL of the signed download URLs when the CDN port is behind a proxy (default: its local URL)",
    )
    parser.add_argument(
        "--signed-url-ttl", type=_positive(float), default=3600.0, metavar="S",
        help="lifetime of signed resolve URLs in seconds (default: %(default)s)",
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
        "--header-timeout", type=_positive(float), default=HEADER_TIMEOUT, metavar="S",
        help="close a connection that takes longer than this to send its request headers (default: %(default)s)",
    )
    parser.add_argument(
        "--max-connections", type=_positive(int), default=MAX_CONNECTIONS, metavar="N",
        help="open connections per listening port; at the cap the longest-waiting idle or slow connection is "
        "closed, or the newcomer gets 503 (default: %(default)s)",
    )
    parser.add_argument(
        "--admin-token", default=None,
        help="require 'Authorization: Bearer TOKEN' on /_localhub/ admin routes (default: loopback clients only)",
    )
    parser.add_argument(
        "--fsync", action="store_true", help="fsync every stored xorb before acknowledging it (durable, slower)"
    )
    parser.add_argument(
        "--gc-interval", type=_positive(float), default=None, metavar="S",
        help="collect unreferenced xorbs and shard records every S seconds (default: only on POST /_localhub/gc)",
    )
    parser.add_argument(
        "--gc-grace", type=_non_negative, default=DEFAULT_GRACE, metavar="S",
        help="keep unreferenced uploads younger than S seconds: uploads in progress (default: %(default)s)",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="serve_command", metavar="{gc}")
    gc = sub.add_parser(
        "gc", help="collect garbage in a data directory no hub is serving, then exit",
        description="Remove xorbs and shard records that no file of any bucket references. Refuses a data "
        "directory a running hub holds (use its POST /_localhub/gc instead).",
    )
    gc.add_argument("--data-dir", dest="gc_data_dir", default=None, metavar="DIR", help="the data directory (or serve's --data-dir)")
    gc.add_argument(
        "--grace", type=_non_negative, default=None, metavar="S",
        help="keep unreferenced uploads younger than S seconds (default: --gc-grace, 24 h); 0 when nothing uploads",
    )
    gc.add_argument("--verbose", action="store_true", help="print each step and each removed xorb")


def _non_negative(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, at least 0, got {value!r}")
    return number


def run_gc(args: argparse.Namespace) -> int:
    """``hf-bucket-sink serve gc``: one offline collection; prints the result as JSON."""
    data_dir = args.gc_data_dir or args.data_dir
    if data_dir is None:
        print("hf-bucket-sink serve gc: pass --data-dir DIR", file=sys.stderr)
        return 2
    grace = args.grace if args.grace is not None else args.gc_grace
    progress = (lambda line: print(line, flush=True)) if args.verbose else None
    try:
        result = collect_offline(Path(data_dir), grace=grace, progress=progress)
    except (OSError, RuntimeError) as exc:  # DataDirBusyError, FileNotFoundError
        print(f"hf-bucket-sink serve gc: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({**result_json(result), "grace_s": grace}), flush=True)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """Start the hub described by ``args``, print how to use it, serve until SIGINT/SIGTERM."""
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "serve_command", None) == "gc":
        return run_gc(args)
    if args.token is None and not is_loopback_host(args.host):
        print(
            f"hf-bucket-sink serve: refusing to listen on {args.host} without --token: every client that can "
            "reach this address could use the hub. Pass --token SECRET (and usually --public-url, --admin-token), "
            "or bind loopback (--host 127.0.0.1).",
            file=sys.stderr,
        )
        return 2
    token = args.token if args.token is not None else "hf_local_" + secrets.token_urlsafe(24)
    try:
        hub = LocalHub(
            args.data_dir,
            host=args.host,
            port=args.port,
            user=args.user,
            token=token,
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
            cdn_port=args.cdn_port,
            cdn_public_url=args.cdn_public_url,
            signed_url_ttl=args.signed_url_ttl,
            header_timeout=args.header_timeout,
            max_connections=args.max_connections,
            gc_interval=args.gc_interval,
            gc_grace=args.gc_grace,
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
            f"  downloads:    {hub.cdn_url}  (signed URLs that resolve redirects to; no token needed)",
            f"  user:         {hub.user}  (write token: {hub.token}"
            + (", generated: pass --token to choose one)" if args.token is None else ")"),
        ]
        lines += [f"  extra token:  {name} ({role}): {value}" for name, value, role in args.extra_token]
        lines += [
            "  admin:        GET /_localhub/stats, PUT /_localhub/bandwidth, PUT /_localhub/faults "
            + ("(needs the admin token)" if args.admin_token else "(loopback clients only)"),
        ]
        if not is_loopback_host(args.host) and args.public_url is None:
            lines.append(f"  warning:      URLs handed to clients point at {hub.url}; pass --public-url for remote clients")
        lines += [
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
