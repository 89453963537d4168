"""Who is calling: Hub tokens, access rules on buckets, and short-lived signed CAS tokens.

Hub tokens are configured when the server starts (a default write token plus ``extra_tokens``).
A token acts only on its own user's namespace; ``read`` tokens never write; private buckets are
visible to their owner only; public buckets are readable by anyone, anonymous callers included.

CAS tokens are minted by the Hub's ``xet-{read,write}-token`` routes and carry, signed with the
data directory's secret, the user, the bucket (by row id, so a rename keeps them valid), the
access level and the expiry. Being stateless they need no table and survive a restart.

Example::

    auth = Auth([TokenRecord("hf_x", "alice", "write", "default")], secret=b"k" * 32, cas_token_ttl=3600)
    who = auth.hub_principal("Bearer hf_x")          # Principal(user='alice', role='write', ...)
    token, exp = auth.issue_cas_token(who.user, bucket_id=1, access="write")
    auth.cas_principal(f"Bearer {token}").access     # 'write'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .catalog import BucketRecord, TokenRecord
from .wire import bucket_not_found, forbidden, unauthorized

__all__ = ["Auth", "CasPrincipal", "Principal"]

_CAS_PREFIX = "xetlocal1"


@dataclass(frozen=True)
class Principal:
    """A caller authenticated with a Hub token."""

    user: str
    role: str  # "read" | "write"
    token_name: str

    @property
    def can_write(self) -> bool:
        return self.role == "write"


@dataclass(frozen=True)
class CasPrincipal:
    """A caller authenticated with a CAS token: scoped to one bucket and one access level."""

    user: str
    bucket_id: int
    access: str  # "read" | "write"
    exp: int


class Auth:
    """Resolves bearer tokens and enforces the bucket access rules."""

    def __init__(self, tokens: Sequence[TokenRecord], *, secret: bytes, cas_token_ttl: float) -> None:
        if cas_token_ttl <= 0:
            raise ValueError(f"cas_token_ttl must be positive, got {cas_token_ttl!r}")
        self._tokens = {t.token: t for t in tokens}
        self._secret = secret
        self.cas_token_ttl = cas_token_ttl

    # --- Hub tokens ------------------------------------------------------------------------------

    def hub_principal(self, authorization: str | None) -> Principal | None:
        """The caller behind an ``Authorization`` header; None when anonymous; 401 when the token is bad."""
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        record = self._tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if record is None:
            raise unauthorized()
        return Principal(record.user, record.role, record.display_name)

    @staticmethod
    def require_user(who: Principal | None) -> Principal:
        if who is None:
            raise unauthorized()
        return who

    @staticmethod
    def can_see(who: Principal | None, bucket: BucketRecord) -> bool:
        return not bucket.private or (who is not None and who.user == bucket.namespace)

    def check_read(self, who: Principal | None, bucket: BucketRecord | None, bucket_id: str) -> BucketRecord:
        """Return the bucket if the caller may read it; 404 ``RepoNotFound`` otherwise (never 403)."""
        if bucket is None or not self.can_see(who, bucket):
            raise bucket_not_found(bucket_id)
        return bucket

    def check_write(self, who: Principal | None, bucket: BucketRecord | None, bucket_id: str) -> BucketRecord:
        """Return the bucket if the caller may change it: 401 anonymous, 404 invisible, 403 otherwise."""
        if who is None:
            raise unauthorized()
        bucket = self.check_read(who, bucket, bucket_id)
        if who.user != bucket.namespace:
            raise forbidden(f"You don't have write access to bucket '{bucket_id}': it belongs to '{bucket.namespace}'.")
        if not who.can_write:
            raise forbidden(f"Your token '{who.token_name}' is read-only: it cannot modify bucket '{bucket_id}'.")
        return bucket

    @staticmethod
    def check_namespace_write(who: Principal | None, namespace: str) -> Principal:
        """The caller may create buckets in ``namespace`` (its own, with a write token)."""
        if who is None:
            raise unauthorized()
        if who.user != namespace:
            raise forbidden(f"You don't have the rights to create a bucket under the namespace '{namespace}'.")
        if not who.can_write:
            raise forbidden(f"Your token '{who.token_name}' is read-only: it cannot create buckets.")
        return who

    # --- CAS tokens ------------------------------------------------------------------------------

    def sign(self, message: str) -> str:
        digest = hmac.new(self._secret, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")

    def verify(self, message: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message), signature)

    def issue_cas_token(self, user: str, *, bucket_id: int, access: str) -> tuple[str, int]:
        """A CAS token for one bucket and access level, and its expiry (unix seconds)."""
        exp = int(time.time() + self.cas_token_ttl)
        payload = base64.urlsafe_b64encode(f"{user}\n{bucket_id}\n{access}\n{exp}".encode()).decode().rstrip("=")
        body = f"{_CAS_PREFIX}.{payload}"
        return f"{body}.{self.sign(body)}", exp

    def cas_principal(self, authorization: str | None, *, write: bool) -> CasPrincipal:
        """Check a CAS bearer token: 401 when missing, forged or expired; 403 when read-only but ``write``."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("Missing CAS access token.")
        body, _, sig = token.strip().rpartition(".")
        prefix, _, payload = body.partition(".")
        if prefix != _CAS_PREFIX or not self.verify(body, sig):
            raise unauthorized("Invalid CAS access token.")
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
            user, bucket_id, access, exp = raw.split("\n")
            who = CasPrincipal(user, int(bucket_id), access, int(exp))
        except ValueError:
            raise unauthorized("Invalid CAS access token.") from None
        if who.exp <= time.time():
            raise unauthorized("CAS access token expired; refresh it through the Hub's xet token route.")
        if write and who.access != "write":
            raise forbidden("This CAS token is read-only; uploads need a token from the xet-write-token route.")
        return who
