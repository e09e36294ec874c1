"""Access-token verification rules that need the real secret to exercise."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from scoreboard.auth.tokens import decode_access_token, issue_access_token
from scoreboard.config import Settings
from scoreboard.kit.problems import Unauthorized
from tests.fixtures.servers import TEST_SECRET

SETTINGS = Settings(environment="test", jwt_secret=TEST_SECRET)


def claims(**overrides: object) -> dict[str, object]:
    """A valid claim set, with `overrides` applied."""
    now = int(time.time())
    base: dict[str, object] = {
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "role": "player",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        "aud": SETTINGS.jwt_audience,
        "iss": SETTINGS.jwt_issuer,
    }
    base.update(overrides)
    return base


def test_issued_tokens_verify() -> None:
    """A token we issue decodes to the same user, session and role."""
    user, session = uuid.uuid4(), uuid.uuid4()
    decoded = decode_access_token(
        SETTINGS, issue_access_token(SETTINGS, user_id=user, session_id=session, role="admin")
    )
    assert (decoded.user_id, decoded.session_id, decoded.role) == (user, session, "admin")


@pytest.mark.parametrize(
    "bad",
    [{"exp": str(int(time.time()) + 60)}, {"iat": str(int(time.time()))}, {"exp": True}, {"iat": 1.5}],
)
def test_numeric_dates_must_be_integers(bad: dict[str, object]) -> None:
    """Correctly signed tokens with string, boolean or fractional dates are refused."""
    token = jwt.encode(claims(**bad), TEST_SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        decode_access_token(SETTINGS, token)
