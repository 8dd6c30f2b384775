"""Security settings: SASL/SSL map to librdkafka, are validated, and never leak secrets."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import pytest

from akx_events import BrokerUnavailableError, ConfigurationError, KafkaConfig, SchemaRegistryConfig
from akx_events.exceptions import AkxError

PASSWORD = "pw-SECRET-4f1c"
API_SECRET = "api-SECRET-9b2e"
JAAS = (
    'org.apache.kafka.common.security.plain.PlainLoginModule username="u" password="jaas-SECRET-77"'
)
SECRETS = (PASSWORD, API_SECRET, "jaas-SECRET-77")


def _kafka(**fields: object) -> KafkaConfig:
    values: dict[str, object] = {
        "name": "sec",
        "group_id": "sec",
        "client_id": "sec",
        "bootstrap_servers": "127.0.0.1:9092",
        **fields,
    }
    return KafkaConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def ca_file(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return str(path)


def test_sasl_plaintext_maps_to_librdkafka() -> None:
    conf = _kafka(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username="alice",
        sasl_plain_password=PASSWORD,
    ).client_config()
    assert conf["security.protocol"] == "SASL_PLAINTEXT"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert (conf["sasl.username"], conf["sasl.password"]) == ("alice", PASSWORD)
    assert "ssl.ca.location" not in conf


def test_sasl_ssl_maps_to_librdkafka(ca_file: str) -> None:
    config = _kafka(
        security_protocol="sasl_ssl",
        sasl_mechanism="PLAIN",
        sasl_plain_username="alice",
        sasl_plain_password=PASSWORD,
        ssl_ca_location=ca_file,
    )
    for conf in (config.client_config(), config.producer_config(), config.consumer_config()):
        assert conf["security.protocol"] == "SASL_SSL"
        assert conf["sasl.mechanism"] == "PLAIN"
        assert conf["sasl.password"] == PASSWORD
        assert conf["ssl.ca.location"] == ca_file


def test_ssl_maps_to_librdkafka(ca_file: str, tmp_path: Path) -> None:
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_text("cert")
    key.write_text("key")
    conf = _kafka(
        security_protocol="SSL",
        ssl_ca_location=ca_file,
        ssl_certificate_location=str(cert),
        ssl_key_location=str(key),
        ssl_key_password=PASSWORD,
    ).client_config()
    assert conf["security.protocol"] == "SSL"
    assert conf["ssl.ca.location"] == ca_file
    assert conf["ssl.certificate.location"] == str(cert)
    assert conf["ssl.key.location"] == str(key)
    assert conf["ssl.key.password"] == PASSWORD
    assert "sasl.mechanism" not in conf


def test_missing_username_is_a_configuration_error_naming_it() -> None:
    with pytest.raises(ConfigurationError) as raised:
        _kafka(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_plain_password=PASSWORD)
    assert raised.value.field == "kafka.sasl_plain_username"
    assert "sasl_plain_username" in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_missing_or_unreadable_ca_file_is_a_configuration_error(
    ca_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError) as missing:
        _kafka(security_protocol="SSL", ssl_ca_location=str(tmp_path / "nope.pem"))
    assert missing.value.field == "kafka.ssl_ca_location"
    assert "nope.pem" in str(missing.value)
    # Permission bits do not stop root (tests may run as root): fake the refusal.
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: path != ca_file and real_access(path, mode)
    )
    with pytest.raises(ConfigurationError, match="not readable") as unreadable:
        _kafka(security_protocol="SSL", ssl_ca_location=ca_file)
    assert unreadable.value.field == "kafka.ssl_ca_location"


def test_secrets_never_appear_in_repr_or_errors() -> None:
    registry = SchemaRegistryConfig(url="http://127.0.0.1:1", api_key="key", api_secret=API_SECRET)
    config = _kafka(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_plain_username="alice",
        sasl_plain_password=PASSWORD,
        extra={"sasl.jaas.config": JAAS},
        schema_registry_config=registry,
    )
    shown = [repr(config), str(config), repr(registry)]
    with pytest.raises(ConfigurationError) as bad:
        config.with_overrides(security_protocol="SASL_WRONG")
    shown.append(str(bad.value))
    for text in shown:
        for secret in SECRETS:
            assert secret not in text, text
    assert "alice" in shown[0]  # the user name is no secret


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("extra", "error"),
    [({}, BrokerUnavailableError), ({"sasl.jaas.config": JAAS}, ConfigurationError)],
    ids=["unreachable", "java-jaas-refused"],
)
async def test_secrets_never_appear_in_logs_of_a_failed_start(
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    extra: dict[str, str],
    error: type[AkxError],
) -> None:
    from akx_runtime import KafkaAgentRuntime, KafkaAgentRuntimeConfig

    registry = SchemaRegistryConfig(
        url=f"http://127.0.0.1:{_closed_port()}", api_key="key", api_secret=API_SECRET
    )
    kafka = _kafka(
        bootstrap_servers=f"127.0.0.1:{_closed_port()}",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_plain_username="alice",
        sasl_plain_password=PASSWORD,
        extra=extra,
        schema_registry_config=registry,
    )
    caplog.set_level(logging.DEBUG)
    runtime = KafkaAgentRuntime(KafkaAgentRuntimeConfig(kafka_config=kafka, start_timeout=1))
    with pytest.raises(error) as failed:
        await runtime.start()
    await runtime.close()
    if error is BrokerUnavailableError:
        assert kafka.bootstrap_servers_str in str(failed.value)
    captured = capfd.readouterr()
    texts = [caplog.text, captured.out, captured.err, str(failed.value), repr(failed.value)]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
