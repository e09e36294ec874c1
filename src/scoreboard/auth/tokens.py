"""Access tokens (short-lived JWTs, HS256 pinned) and opaque secrets stored as digests."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from uuid import UUID

import jwt

from scoreboard.config import Settings
from scoreboard.kit.problems import Unauthorized

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "sid", "role", "exp", "iat", "jti", "aud", "iss"]
ROLES = frozenset({"player", "admin"})


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says."""

    user_id: UUID
    session_id: UUID
    role: str
    jti: str
    expires_at: int


def issue_access_token(settings: Settings, *, user_id: UUID, session_id: UUID, role: str) -> str:
    """Sign a new access token for one session."""
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "role": role,
        "iat": now,
        "exp": now + settings.access_token_ttl_seconds,
        "jti": uuid.uuid4().hex,
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
    }
    return jwt.encode(claims, settings.signing_secret, algorithm=ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """Verify signature, algorithm, expiry, audience, issuer and every required claim."""
    try:
        claims = jwt.decode(
            token,
            settings.signing_secret,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": REQUIRED_CLAIMS, "strict_aud": True},
            leeway=5,
        )
        role = claims["role"]
        # RFC 7519 NumericDate is a number; PyJWT would accept "123" (and True) through int().
        numeric = all(type(claims[name]) is int for name in ("exp", "iat"))
        if role not in ROLES or not isinstance(claims["jti"], str) or not numeric:
            raise Unauthorized("The access token is not valid.")
        return AccessClaims(
            user_id=UUID(claims["sub"]),
            session_id=UUID(claims["sid"]),
            role=role,
            jti=claims["jti"],
            expires_at=int(claims["exp"]),
        )
    except (jwt.PyJWTError, ValueError, TypeError, AttributeError) as exc:
        # One answer for every failure: the reason helps attackers more than clients.
        raise Unauthorized("The access token is not valid.") from exc


def new_secret(prefix: str = "") -> str:
    """Return a new random opaque credential."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    """Return the SHA-256 digest under which a high-entropy secret is stored."""
    return hashlib.sha256(secret.encode()).digest()
