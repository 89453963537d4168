"""The OpenAPI 3.1 description of the local Hub, built from one table of operations.

``openapi.json`` next to this module is the committed output of :func:`build_spec`; a test
(tests/reliability/test_hub_fuzz.py) checks that every route of the router has exactly one
operation here and vice versa, that the committed file is up to date, and fuzzes every operation.
Regenerate after changing routes::

    python -m hf_bucket_sink.localhub.openapi > src/hf_bucket_sink/localhub/openapi.json
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["OPERATIONS", "Operation", "build_spec", "example_path"]


@dataclass(frozen=True)
class Operation:
    """One method on one path template; ``body`` is the request media type (None: no body)."""

    method: str
    path: str
    family: str
    summary: str
    body: str | None = None


_B = "/api/buckets/{namespace}/{name}"
_C = "/cas/{store}"

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/_localhub/health", "admin", "Liveness probe (open to all)."),
    Operation("GET", "/_localhub/stats", "admin", "Counters (loopback or admin token)."),
    Operation("PUT", "/_localhub/bandwidth", "admin", "Set or lift the bandwidth cap.", "application/json"),
    Operation("GET", "/_localhub/faults", "admin", "Fault-injection rules and counts."),
    Operation("PUT", "/_localhub/faults", "admin", "Replace fault rules, go dark / come back.", "application/json"),
    Operation("DELETE", "/_localhub/faults", "admin", "Clear every fault."),
    Operation("GET", "/api/whoami-v2", "hub_api", "Who the token belongs to."),
    Operation("GET", "/api/agent-harnesses", "hub_api", "Not implemented (404)."),
    Operation("POST", "/api/repos/move", "hub_api", "Rename a bucket.", "application/json"),
    Operation("GET", "/api/buckets/{namespace}", "hub_api", "List buckets of a namespace."),
    Operation("POST", _B, "hub_api", "Create a bucket.", "application/json"),
    Operation("GET", _B, "hub_api", "Bucket info."),
    Operation("DELETE", _B, "hub_api", "Delete a bucket."),
    Operation("PUT", _B + "/settings", "hub_api", "Change visibility.", "application/json"),
    Operation("GET", _B + "/tree/{prefix}", "hub_api", "List files under a prefix."),
    Operation("POST", _B + "/paths-info", "hub_api", "Entries of given paths.", "application/json"),
    Operation("POST", _B + "/batch", "hub_batch", "Add, copy and delete files.", "application/x-ndjson"),
    Operation("GET", _B + "/xet-{access}-token", "xet_token", "A CAS token (access: read or write)."),
    Operation("GET", _B + "/events", "hub_api", "Not implemented (404)."),
    Operation("GET", "/buckets/{namespace}/{name}/resolve/{path}", "hub_resolve", "File bytes (Range honoured)."),
    Operation("HEAD", "/buckets/{namespace}/{name}/resolve/{path}", "hub_resolve", "File metadata headers."),
    Operation("GET", _C + "/v1/chunks/{prefix}/{hash}", "cas_dedup", "Global dedup query."),
    Operation("POST", _C + "/v1/xorb-grants/{prefix}/{hash}", "cas_xorb", "Ask for an upload grant."),
    Operation("PUT", _C + "/grant-uploads/{grant}", "cas_xorb", "Upload a xorb body under a grant.", "application/octet-stream"),
    Operation("POST", _C + "/grant-uploads/{grant}", "cas_xorb", "Same as PUT.", "application/octet-stream"),
    Operation("POST", _C + "/v1/xorb-commits/{prefix}/{hash}/grant/{grant}", "cas_xorb", "Publish a granted xorb."),
    Operation("POST", _C + "/v1/xorbs/{prefix}/{hash}", "cas_xorb", "Direct xorb upload.", "application/octet-stream"),
    Operation("HEAD", _C + "/v1/xorbs/{prefix}/{hash}", "cas_xorb", "Is a xorb stored."),
    Operation("POST", _C + "/v1/shards", "cas_shard", "Upload a shard.", "application/octet-stream"),
    Operation("POST", _C + "/v2/shards", "cas_shard", "Upload a shard (NDJSON progress).", "application/octet-stream"),
    Operation("GET", _C + "/v1/reconstructions/{hash}", "cas_reconstruction", "Download plan (v1)."),
    Operation("GET", _C + "/v2/reconstructions/{hash}", "cas_reconstruction", "Download plan (v2)."),
    Operation("HEAD", _C + "/v1/files/{hash}", "cas_reconstruction", "File size."),
    Operation("GET", _C + "/xorb-data/{hash}", "cas_data", "Signed xorb byte ranges."),
    Operation("POST", "/v1/telemetry", "telemetry", "Telemetry sink (204).", "application/octet-stream"),
    Operation("POST", _C + "/v1/telemetry", "telemetry", "Telemetry sink (204).", "application/octet-stream"),
)

#: Sample values used to turn a template into a concrete path (sync test and fuzzing seeds).
SAMPLES: dict[str, str] = {
    "namespace": "local", "name": "bucket", "prefix": "default", "path": "dir/file.bin", "hash": "0" * 64,
    "store": "store", "grant": "grant1", "access": "read",
}


def example_path(template: str, values: dict[str, str] | None = None) -> str:
    """The template with ``{param}`` replaced by ``values`` (or :data:`SAMPLES`)."""
    out = template
    for key, value in {**SAMPLES, **(values or {})}.items():
        out = out.replace("{" + key + "}", value)
    return out


def _parameters(template: str) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in template.replace("xet-{access}-token", "{access}").split("/") if part.startswith("{")]
    if "{access}" in template:
        names.append("access")
    seen: list[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    schema: dict[str, Any] = {"type": "string"}
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string", "enum": ["read", "write"]} if n == "access" else schema}
        for n in seen
    ]


def build_spec() -> dict[str, Any]:
    """The OpenAPI document (deterministic: the committed file must equal it)."""
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}_{op.path}".replace("/", "_").replace("{", "").replace("}", ""),
            "tags": [op.family],
            "responses": {"default": {"description": "JSON error: {\"error\": ...} with X-Error-Message"}},
        }
        params = _parameters(op.path)
        if params:
            entry["parameters"] = params
        if op.body is not None:
            entry["requestBody"] = {"content": {op.body: {"schema": {}}}}
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hf-bucket-sink local Hub",
            "version": "1",
            "description": "Hugging Face Storage Bucket API + Xet CAS API emulator (docs/localhub.md). "
            "Tags are route families, the keys of fault-injection rules.",
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}, {}],
        "paths": paths,
    }


if __name__ == "__main__":  # pragma: no cover - regeneration helper
    json.dump(build_spec(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
