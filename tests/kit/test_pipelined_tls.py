"""`rediss://` settings reach both our clients: the CA, hostname checking and a client certificate Redis requires."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from scoreboard.kit.pipelined import Pipelined


async def _pong(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer every PING as Redis does (enough of Redis for a TLS handshake to be the test)."""
    try:
        while data := await reader.read(1 << 16):
            writer.write(b"+PONG\r\n" * data.count(b"PING"))
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[int, Path, Path]]:
    """A TLS server for `example.test` that requires a client certificate: its port, the CA file, a client PEM."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("example.test").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    ca_file, client_pem = tmp_path / "ca.pem", tmp_path / "client.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca.issue_cert("scoreboard").private_key_and_cert_chain_pem.write_to_path(str(client_pem))
    server = await asyncio.start_server(_pong, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1], ca_file, client_pem
    finally:
        server.close()


async def test_a_client_certificate_and_hostname_setting_in_the_url_reach_both_clients(
    tls_server: tuple[int, Path, Path],
) -> None:
    port, ca_file, client_pem = tls_server
    # The server's certificate names example.test, not 127.0.0.1: hostname checking is switched off.
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca_file}&ssl_certfile={client_pem}&ssl_check_hostname=false"
    direct = Pipelined.from_url(url)
    redis_py = Redis.from_url(url)
    like = Pipelined.like(redis_py)  # how the live subscription and bulk loads reach the same server
    try:
        assert await direct.ping()
        assert await like.ping()
    finally:
        await direct.aclose()
        await like.aclose()
        await redis_py.aclose()


@pytest.mark.parametrize(
    "query",
    [
        "ssl_ca_certs={ca}&ssl_check_hostname=false",  # no client certificate
        "ssl_ca_certs={ca}&ssl_certfile={pem}",  # the name checked against 127.0.0.1
        "ssl_certfile={pem}&ssl_check_hostname=false",  # the server's CA not trusted
    ],
)
async def test_each_setting_is_needed(tls_server: tuple[int, Path, Path], query: str) -> None:
    port, ca_file, client_pem = tls_server
    client = Pipelined.from_url(f"rediss://127.0.0.1:{port}/0?" + query.format(ca=ca_file, pem=client_pem))
    try:
        with pytest.raises(RedisConnectionError):
            await client.ping()
    finally:
        await client.aclose()
