"""TLS: with ``security_protocol=SSL`` the client does the handshake and checks the CA.

The embedded broker speaks plaintext only, so the test puts a TLS-terminating proxy in
front of it. The broker still advertises its own plaintext address in metadata, so a
client leaves the proxy after its first answers and no produce/consume round trip can
go through TLS here; what the bootstrap connection proves is the handshake, the CA
check and a Kafka request answered inside TLS.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Producer

from akx_dev import KafkaStack
from akx_events import BrokerUnavailableError, KafkaConfig
from akx_events._admin import ensure_topics

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


@dataclass
class Pem:
    cert: bytes
    key: bytes


def _certificate(name: str, issuer: Pem | None) -> Pem:
    """A CA (no issuer) or a server certificate for 127.0.0.1 signed by ``issuer``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    if issuer is None:
        signer, issuer_name = key, subject
    else:
        signer = serialization.load_pem_private_key(issuer.key, None)
        issuer_name = x509.load_pem_x509_certificate(issuer.cert).subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    cert = builder.sign(signer, hashes.SHA256())  # type: ignore[arg-type]
    return Pem(
        cert=cert.public_bytes(serialization.Encoding.PEM),
        key=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@dataclass
class TlsProxy:
    """The proxy's address, the CA that signed its certificate, and what it saw."""

    address: str
    ca_file: str
    wrong_ca_file: str
    handshakes: int = 0
    answered_bytes: int = 0

    def answered(self, count: int) -> None:
        """Count bytes the broker sent back through TLS."""
        self.answered_bytes += count


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    seen: Callable[[int], None] = lambda _n: None,
) -> None:
    try:
        while data := await reader.read(65536):
            seen(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def tls_proxy(kafka_stack: KafkaStack, tmp_path: Path) -> AsyncIterator[TlsProxy]:
    ca, wrong_ca = _certificate("akx test CA", None), _certificate("someone else", None)
    server = _certificate("127.0.0.1", ca)
    files = {"ca.pem": ca.cert, "wrong.pem": wrong_ca.cert}
    files.update({"server.pem": server.cert, "server.key": server.key})
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    broker_host, broker_port = kafka_stack.bootstrap_servers.split(",")[0].rsplit(":", 1)
    proxy = TlsProxy("", str(tmp_path / "ca.pem"), str(tmp_path / "wrong.pem"))

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        proxy.handshakes += 1  # asyncio calls us only once the TLS handshake is done
        broker_r, broker_w = await asyncio.open_connection(broker_host, int(broker_port))
        await asyncio.gather(
            _pipe(client_r, broker_w), _pipe(broker_r, client_w, seen=proxy.answered)
        )

    listener = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    port = listener.sockets[0].getsockname()[1]
    proxy.address = f"127.0.0.1:{port}"
    try:
        yield proxy
    finally:
        listener.close()


def _ssl_config(address: str, ca_file: str) -> KafkaConfig:
    return KafkaConfig(
        name="tls",
        group_id="tls",
        client_id="tls",
        bootstrap_servers=address,
        security_protocol="SSL",
        ssl_ca_location=ca_file,
    )


async def test_ssl_client_completes_the_handshake_with_the_right_ca(tls_proxy: TlsProxy) -> None:
    config = _ssl_config(tls_proxy.address, tls_proxy.ca_file)
    # A client connects to its bootstrap servers at once: handshake, then ApiVersions.
    producer = Producer({**config.producer_config(), "log_level": 0})
    try:
        deadline = time.monotonic() + 10
        while not tls_proxy.answered_bytes and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        await asyncio.to_thread(producer.flush, 0)
        del producer
    assert tls_proxy.handshakes >= 1
    assert tls_proxy.answered_bytes > 0  # the broker answered a request sent inside TLS


async def test_ssl_client_refuses_a_server_its_ca_did_not_sign(tls_proxy: TlsProxy) -> None:
    config = _ssl_config(tls_proxy.address, tls_proxy.wrong_ca_file)
    with pytest.raises(BrokerUnavailableError, match=tls_proxy.address):
        await ensure_topics(config.client_config(), [], timeout=2)
    assert tls_proxy.handshakes == 0
