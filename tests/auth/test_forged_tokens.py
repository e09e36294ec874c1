"""Forged, tampered, expired, malformed and revoked access tokens: every one is a 401 problem."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
import uuid
import warnings
from typing import Any

import asyncpg
import httpx
import jwt
from jwt.warnings import InsecureKeyLengthWarning
from redis.asyncio import Redis

from scoreboard.config import Settings
from scoreboard.kit.problems import PROBLEM_MEDIA_TYPE
from scoreboard.leaderboard import reconciler
from tests.fixtures.accounts import Account, admin, player
from tests.fixtures.apps import Running

ME = "/api/users/me"
PATHS = (ME, "/api/auth/whoami", "/api/admin/users")
CLAIMS = ("sub", "sid", "role", "exp", "iat", "jti", "aud", "iss")
DROP = object()  # marks a claim to remove rather than replace
Corpus = list[tuple[str, str | bytes]]


def b64(data: Any) -> str:
    """Encode bytes, text or a JSON value as unpadded base64url."""
    raw = data if isinstance(data, bytes) else data.encode() if isinstance(data, str) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    """Decode one unpadded base64url segment."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def assemble(header: Any, payload: Any, *, key: str = "", sig: str | None = None, digest: Any = hashlib.sha256) -> str:
    """Build a JWS by hand: any header, any payload, an HMAC under `key` unless `sig` is given."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    if sig is None:
        sig = b64(hmac.new(key.encode(), signing_input.encode(), digest).digest())
    return f"{signing_input}.{sig}"


def changed(claims: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Copy the claims with some replaced, or removed where the value is DROP."""
    out = {**claims, **changes}
    return {name: value for name, value in out.items() if value is not DROP}


def bearer(token: str | bytes) -> dict[bytes, bytes]:
    """Authorization header as bytes, so non-ASCII tokens reach the app unchanged."""
    return {b"Authorization": b"Bearer " + (token if isinstance(token, bytes) else token.encode())}


def forged_corpus(claims: dict[str, Any], settings: Settings, valid: str, other: Account) -> Corpus:
    """Return (name, token) pairs, each differing from the valid claim set only by its forgery."""
    secret, now = settings.signing_secret, int(time.time())
    hs256 = {"alg": "HS256", "typ": "JWT"}
    out: Corpus = []

    def signed(name: str, **changes: Any) -> None:
        # Signed by hand: PyJWT refuses to encode some bad values (a non-string iss), a forger would not.
        out.append((name, assemble(hs256, changed(claims, **changes), key=secret)))

    # alg=none in any spelling, with empty, junk and genuine signatures, and an admin escalation.
    real_sig = valid.rsplit(".", 1)[1]
    for alg in ("none", "None", "NONE", "nOnE"):
        for label, sig in (("empty", ""), ("junk", "c2ln"), ("real", real_sig)):
            out.append((f"alg={alg} sig={label}", assemble({"alg": alg, "typ": "JWT"}, claims, sig=sig)))
    out.append(("alg=none role=admin", assemble({"alg": "none"}, changed(claims, role="admin"), sig="")))
    out.append(("no alg header", assemble({"typ": "JWT"}, claims, key=secret)))
    for odd_alg in ("", None, "hs256", ["HS256"], "HS256 "):
        out.append((f"alg={odd_alg!r} right key", assemble({"alg": odd_alg, "typ": "JWT"}, claims, key=secret)))
    # Right secret, other algorithm headers: the decoder pins HS256.
    for alg in ("RS256", "ES256", "PS256", "EdDSA"):
        out.append((f"{alg} header, HS256 signature", assemble({"alg": alg, "typ": "JWT"}, claims, key=secret)))

    # Wrong keys, including near misses of the real one (short keys make PyJWT warn; silenced only below).
    flip = chr(ord(secret[-1]) ^ 1)
    wrong_keys = {
        "short": "wrong",
        "default": "changeme",
        "random 64": "k" * 64,
        "last char changed": secret[:-1] + flip,
        "first char changed": chr(ord(secret[0]) ^ 1) + secret[1:],
        "upper-cased": secret.upper(),
        "one char longer": secret + "x",
        "one char shorter": secret[:-1],
        "reversed": secret[::-1],
        "leading space": " " + secret,
        "audience": settings.jwt_audience,
        "issuer": settings.jwt_issuer,
    }
    # PyJWT refuses to sign with an empty key; an attacker's HMAC needs no permission.
    out.append(("wrong key: empty", assemble(hs256, claims, key="")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        for label, key in wrong_keys.items():
            out.append((f"wrong key: {label}", jwt.encode(claims, key, algorithm="HS256")))
        out.append(("wrong key, role=admin", jwt.encode(changed(claims, role="admin"), "wrong", algorithm="HS256")))
        for alg in ("HS384", "HS512"):  # the real secret is short for HS512, hence inside this block
            out.append((f"{alg} right key", jwt.encode(claims, secret, algorithm=alg)))

    # Time: decode has leeway=5, so stay well outside it.
    for ago in (10, 30, 60, 3600, 86_400):
        signed(f"expired {ago}s ago", exp=now - ago, iat=now - ago - 900)
    signed("exp=0", exp=0, iat=0)
    signed("exp negative", exp=-1, iat=-901)
    for ahead in (60, 3600, 86_400):
        signed(f"nbf +{ahead}s", nbf=now + ahead)
        signed(f"iat +{ahead}s", iat=now + ahead, exp=now + ahead + 900)

    # Each required claim missing, then null, in turn.
    for name in CLAIMS:
        signed(f"missing {name}", **{name: DROP})
        signed(f"null {name}", **{name: None})

    # Wrong types and values (numeric strings for exp/iat are left out: PyJWT coerces them).
    bad_values: dict[str, list[Any]] = {
        "sub": ["not-a-uuid", "", 123, [claims["sub"]]],
        "sid": ["not-a-uuid", "", 123, [claims["sid"]], "../../etc/passwd"],
        "role": ["superuser", "ADMIN", "Admin", "", "admin ", ["admin"], {"admin": True}, 1],
        "jti": [123, ["x"], {}],
        "exp": ["never", [now + 900], {}],
        "iat": ["yesterday", [now]],
        "aud": ["other", ["other"], "", [settings.jwt_audience, "other"], [settings.jwt_audience]],
        "iss": ["other", "", settings.jwt_issuer.upper(), settings.jwt_issuer + " ", [settings.jwt_issuer], 123],
    }
    bad_values["aud"] += [settings.jwt_audience.upper(), settings.jwt_audience + " ", 123]
    for name, values in bad_values.items():
        for value in values:
            signed(f"{name}={value!r}", **{name: value})

    # Tampered after signing: the payload changes, the signature stays.
    header, payload, sig = valid.split(".")
    for label, tampered in {
        "role=admin": changed(claims, role="admin"),
        "sub=other user": changed(claims, sub=str(other.id)),
        "sid=random": changed(claims, sid=str(uuid.uuid4())),
        "exp +1 year": changed(claims, exp=claims["exp"] + 365 * 86_400),
        "jti dropped": changed(claims, jti=DROP),
        "extra admin claim": changed(claims, admin=True),
    }.items():
        out.append((f"tampered payload: {label}", f"{header}.{b64(tampered)}.{sig}"))
    out.append(("tampered header: kid added", f"{b64({**hs256, 'kid': 'x'})}.{payload}.{sig}"))
    raw_sig = unb64(sig)
    for index in (0, len(raw_sig) // 2, len(raw_sig) - 1):
        flipped = bytearray(raw_sig)
        flipped[index] ^= 0x01
        out.append((f"signature bit flip at byte {index}", f"{header}.{payload}.{b64(bytes(flipped))}"))
    out.append(("signature truncated by a byte", f"{header}.{payload}.{b64(raw_sig[:-1])}"))
    out.append(("signature halved", f"{header}.{payload}.{sig[: len(sig) // 2]}"))
    out.append(("signature empty", f"{header}.{payload}."))
    other_sig = jwt.encode(changed(claims, jti="other"), secret, algorithm="HS256").rsplit(".", 1)[1]
    out.append(("signature of another token", f"{header}.{payload}.{other_sig}"))
    out.append(("extra segment", f"{valid}.{sig}"))
    out.append(("trailing dot", f"{valid}."))
    out.append(("missing signature segment", f"{header}.{payload}"))
    out.append(("missing header segment", f"{payload}.{sig}"))
    out.append(("empty payload segment", f"{header}..{sig}"))
    out.append(("space inside token", f"{header}. {payload}.{sig}"))
    out.append(("payload is a JSON array, signed", assemble(hs256, [claims], key=secret)))
    out.append(("payload is JSON null, signed", assemble(hs256, None, key=secret)))
    out.append(("payload not JSON, signed", assemble(hs256, b"\xff\xfenot json", key=secret)))
    out.append(("header is a JSON array", assemble([hs256], claims, key=secret)))
    out.append(("header not JSON", f"{b64(b'{alg')}.{payload}.{sig}"))

    # Garbage.
    rng = random.Random(1)  # repeatable corpus
    for junk in ("", ".", "..", "...", "a.b.c", "null", "{}", "eyJhbGciOiJub25lIn0", "Bearer", "Bearer " + valid):
        out.append((f"garbage {junk[:20]!r}", junk))
    for size in (16, 64, 512):
        out.append((f"random {size} bytes base64", b64(rng.randbytes(size))))
        out.append((f"random {size} bytes x3 segments", ".".join(b64(rng.randbytes(size)) for _ in range(3))))
    out.append(("10k characters", "A" * 10_000))
    out.append(("10k three segments", ".".join(["A" * 3333] * 3)))
    out.append(("wrong key, 10k payload", jwt.encode(changed(claims, pad="p" * 10_000), "wrong" * 8)))
    out.append(("non-ASCII", "tökén".encode()))
    out.append(("non-ASCII inside valid token", f"{header}.{payload}é.{sig}".encode()))
    out.append(("NUL inside valid token", f"{header}.\x00{payload}.{sig}"))
    return out


async def offences(client: httpx.AsyncClient, name: str, headers: dict[Any, Any], paths: tuple[str, ...]) -> list[str]:
    """Return what is wrong with the answers to one credential (nothing if all are proper 401s)."""
    found = []
    for path in paths:
        response = await client.get(path, headers=headers)
        if (
            response.status_code != 401
            or response.headers.get("content-type") != PROBLEM_MEDIA_TYPE
            or "www-authenticate" not in response.headers
        ):
            found.append(f"{name} on {path}: {response.status_code} {response.headers.get('content-type')}")
    return found


async def logged_in_claims(client: httpx.AsyncClient) -> tuple[Account, dict[str, Any]]:
    """Log a player in, check the token works, and read its claims (sub and sid name a live session)."""
    account = await player(client)
    assert (await client.get(ME, headers=account.headers)).status_code == 200
    return account, jwt.decode(account.access_token, options={"verify_signature": False})


async def test_every_forged_token_is_rejected(client: httpx.AsyncClient, settings: Settings) -> None:
    """Send 100+ forged tokens built from a live session's claims; each must be a 401 problem."""
    account, claims = await logged_in_claims(client)
    other = await player(client)
    # Positive control: the same claims signed properly (by PyJWT and by hand) pass, so each forgery is the only fault.
    for resigned in (
        jwt.encode(claims, settings.signing_secret, algorithm="HS256"),
        assemble({"alg": "HS256", "typ": "JWT"}, claims, key=settings.signing_secret),
    ):
        assert (await client.get(ME, headers=bearer(resigned))).status_code == 200

    corpus = forged_corpus(claims, settings, account.access_token, other)
    assert len(corpus) >= 100
    assert len({name for name, _ in corpus}) == len(corpus), "corpus names must be unique to report offenders"
    failures = [offence for name, token in corpus for offence in await offences(client, name, bearer(token), PATHS)]
    assert not failures, f"{len(failures)} answer(s) were not a 401 problem:\n" + "\n".join(failures)
    # The barrage must not have disturbed the real session.
    assert (await client.get(ME, headers=account.headers)).status_code == 200


async def test_non_bearer_schemes_are_rejected(client: httpx.AsyncClient) -> None:
    """Answer 401 to an Authorization header that is not a Bearer token."""
    account = await player(client)
    schemes = [
        "Basic dXNlcjpwYXNzd29yZA==",
        "Token abc",
        "bearer",
        "Bearer",
        "Bearer ",
        "Digest username=x",
        f"Token {account.access_token}",
        f"JWT {account.access_token}",
        f"Basic {account.access_token}",
        account.access_token,
    ]
    failures = []
    for value in schemes:
        failures += await offences(client, repr(value[:30]), {"Authorization": value}, PATHS)
    assert not failures, "\n".join(failures)


async def assert_dead(client: httpx.AsyncClient, settings: Settings, account: Account, claims: dict[str, Any]) -> None:
    """Check the token and a fresh one for the same session are both 401 everywhere."""
    # Revocation is per session: a new jti for the same sid must not slip through.
    sibling = jwt.encode(changed(claims, jti=uuid.uuid4().hex), settings.signing_secret, algorithm="HS256")
    failures = await offences(client, "issued token", account.headers, PATHS)
    failures += await offences(client, "same session, new jti", bearer(sibling), PATHS)
    assert not failures, "\n".join(failures)


async def test_token_of_logged_out_session_is_rejected(client: httpx.AsyncClient, settings: Settings) -> None:
    """Reject a token whose session ended with logout."""
    account, claims = await logged_in_claims(client)
    assert (await client.post("/api/auth/logout", headers=account.headers)).status_code == 204
    await assert_dead(client, settings, account, claims)


async def test_token_of_deleted_user_is_rejected(client: httpx.AsyncClient, settings: Settings) -> None:
    """Reject a token of a user who deleted their account."""
    account, claims = await logged_in_claims(client)
    assert (await client.delete(ME, headers=account.headers)).status_code == 204
    await assert_dead(client, settings, account, claims)


async def test_token_of_deactivated_user_is_rejected(
    client: httpx.AsyncClient, settings: Settings, db: asyncpg.Connection
) -> None:
    """Reject a token of a user an admin deactivated."""
    account, claims = await logged_in_claims(client)
    boss = await admin(client, db)
    response = await client.post(f"/api/admin/users/{account.id}/deactivate", headers=boss.headers)
    assert response.status_code == 200, response.text
    await assert_dead(client, settings, account, claims)


def resigned(settings: Settings, claims: dict[str, Any], **changes: Any) -> str:
    """Sign changed claims with the real secret: a token only the server (or a holder of its secret) can make."""
    return jwt.encode(changed(claims, **changes), settings.signing_secret, algorithm="HS256")


async def test_a_signed_token_naming_no_known_session_is_rejected(
    client: httpx.AsyncClient, settings: Settings, db: asyncpg.Connection
) -> None:
    """Correctly signed, but the user, the session or the pair is unknown to PostgreSQL: a 401, even as an admin."""
    account, claims = await logged_in_claims(client)  # this session is known and vouched for
    other = await player(client)
    boss = await admin(client, db)
    boss_claims = jwt.decode(boss.access_token, options={"verify_signature": False})
    stranger, nowhere = str(uuid.uuid4()), str(uuid.uuid4())
    cases = {
        "unknown user and session": resigned(settings, claims, sub=stranger, sid=nowhere),
        "unknown admin": resigned(settings, claims, sub=stranger, sid=nowhere, role="admin"),
        "known user, unknown session": resigned(settings, claims, sid=nowhere),
        "unknown user, known session": resigned(settings, claims, sub=stranger),
        "another user's session": resigned(settings, claims, sub=str(other.id)),
        "a player's session as admin": resigned(settings, claims, role="admin"),
        "an admin's session for a player": resigned(settings, boss_claims, sub=str(account.id)),
        "an admin's session as a player": resigned(settings, boss_claims, role="player"),
    }
    failures = [
        offence for name, token in cases.items() for offence in await offences(client, name, bearer(token), PATHS)
    ]
    for name, token in cases.items():
        award = await client.post("/api/scores", json={"actionId": "complete-quest"}, headers=bearer(token))
        if award.status_code != 401:
            failures.append(f"{name} on POST /api/scores: {award.status_code}")
    assert not failures, "\n".join(failures)
    assert await db.fetchval("SELECT count(*) FROM score_history") == 0
    # The genuine tokens of the sessions borrowed above are untouched.
    for genuine in (account, boss):
        assert (await client.get(ME, headers=genuine.headers)).status_code == 200


async def test_a_session_the_database_lost_is_rejected(
    app: Running, client: httpx.AsyncClient, settings: Settings, db: asyncpg.Connection, redis: Redis
) -> None:
    """A token of a session PostgreSQL no longer has (restored from an older backup) is a 401, once Redis forgets it."""
    unused, used = await player(client), await player(client)
    assert (await client.get(ME, headers=used.headers)).status_code == 200  # vouched for, in Redis
    await db.execute("DELETE FROM auth_sessions WHERE user_id = ANY($1::uuid[])", [unused.id, used.id])
    assert not await offences(client, "never used", unused.headers, PATHS)
    # What Redis vouched for holds until it expires, within one access-token lifetime, or is forgotten.
    vouched = f"auth:session:{jwt.decode(used.access_token, options={'verify_signature': False})['sid']}"
    ttl = await redis.ttl(vouched)
    assert 0 < ttl <= settings.access_token_ttl_seconds
    assert (await client.get(ME, headers=used.headers)).status_code == 200
    # A restore rebuilds Redis from the restored database (scoreboard restore, or the reconciler noticing), and the
    # rebuild forgets every vouched session.
    assert await reconciler.rebuild(app.state["pool"], app.state["background_redis"]) is not None
    assert not await redis.exists(vouched)
    assert not await offences(client, "vouched for, then forgotten", used.headers, PATHS)
