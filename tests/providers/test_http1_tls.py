"""The upstream client over TLS: certificates are verified, and a trusted server is spoken to normally.

A real TLS server on loopback (``asyncio.start_server`` with a certificate made by the ``openssl`` command
for this test) answers one fixed HTTP/1.1 response. Which CAs the client trusts is OpenSSL's default
store, which ``SSL_CERT_FILE`` replaces: the way an operator points switchman at a private CA.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from switchman.errors import UpstreamConnectionError
from switchman.providers.http1 import Endpoint

ANSWER = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
async def tls_server(certificate: tuple[Path, Path]) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A TLS server answering every request with ``ANSWER``; yields its port and the requests' heads."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                heads.append(head)
                writer.write(ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    yield server.sockets[0].getsockname()[1], heads
    server.close()
    await server.wait_closed()


def endpoint(port: int) -> Endpoint:
    return Endpoint(
        "tls", f"https://127.0.0.1:{port}/v1/chat/completions", {"content-type": "application/json"},
        max_connections=4, connect_timeout=5, read_timeout=5,
    )  # fmt: skip


async def test_an_untrusted_certificate_is_refused(tls_server: tuple[int, list[bytes]]) -> None:
    port, heads = tls_server
    ep = endpoint(port)
    with pytest.raises(UpstreamConnectionError, match="connection failed"):
        async with ep.post(b"{}", 5.0):
            pass
    assert heads == []  # nothing was sent over the unverified connection
    await ep.aclose()


async def test_a_trusted_server_answers_over_one_kept_connection(
    tls_server: tuple[int, list[bytes]], certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, heads = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    ep = endpoint(port)
    for _ in range(3):
        async with ep.post(b"{}", 5.0) as resp:
            assert resp.status == 200
            assert await resp.read() == b'{"ok":true}'
    assert len(heads) == 3
    assert heads[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:")
    assert ep._open == 1  # the three exchanges shared one TLS connection
    await ep.aclose()
