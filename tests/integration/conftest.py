"""Fixtures shared by the integration modules.

Each module defines its own module-scoped ``hub`` (a started ``LocalHub`` with the buckets and
principals it needs); ``api`` and ``opts`` derive from whichever ``hub`` the module provides.
"""

from __future__ import annotations

from typing import Any

import pytest
from huggingface_hub import HfApi


@pytest.fixture
def api(hub: Any) -> HfApi:
    """The official client, pointed at the module's local Hub with its write token."""
    return HfApi(endpoint=hub.url, token=hub.token)


@pytest.fixture
def opts(hub: Any) -> dict[str, str]:
    """``storage_options`` for the module's local Hub."""
    return {"token": hub.token, "endpoint": hub.url}
