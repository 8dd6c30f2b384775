"""KafkaConfig and SchemaRegistryConfig: valid configs parse, invalid ones name the field."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from akx_events import (
    ConfigurationError,
    KafkaConfig,
    SaslMechanism,
    SchemaRegistryConfig,
    SecurityProtocol,
)

hosts = st.from_regex(r"\A[a-z0-9][a-z0-9.-]{0,20}\Z") | st.sampled_from(
    ["localhost", "127.0.0.1", "[::1]", "kafka-0.kafka.svc"]
)
ports = st.integers(min_value=1, max_value=65535)
servers = st.lists(st.builds("{}:{}".format, hosts, ports), min_size=1, max_size=4)
names = st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != "")
secrets = st.text(min_size=4, max_size=20).map(lambda s: f"SECRET-{s}-SECRET")


@st.composite
def kafka_configs(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": draw(names),
        "group_id": draw(names),
        "client_id": draw(names),
        "bootstrap_servers": draw(st.one_of(servers, servers.map(",".join))),
        "num_partitions": draw(st.integers(min_value=1, max_value=1000)),
        "replication_factor": draw(st.integers(min_value=1, max_value=5)),
        "auto_offset_reset": draw(st.sampled_from(["earliest", "latest"])),
    }
    protocol = draw(st.sampled_from(list(SecurityProtocol)))
    fields["security_protocol"] = draw(st.sampled_from([protocol, protocol.value]))
    if protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL):
        mechanism = draw(
            st.sampled_from(
                [SaslMechanism.PLAIN, SaslMechanism.SCRAM_SHA_256, SaslMechanism.SCRAM_SHA_512]
            )
        )
        fields["sasl_mechanism"] = draw(st.sampled_from([mechanism, mechanism.value]))
        fields["sasl_plain_username"] = draw(names)
        fields["sasl_plain_password"] = draw(secrets)
    # Free-form settings: secret-looking names (passwords, JAAS, tokens) are masked.
    fields["extra"] = {
        **draw(
            st.dictionaries(
                st.sampled_from(["linger.ms", "acks", "socket.nagle.disable"]),
                st.integers(0, 100) | st.booleans(),
                max_size=3,
            )
        ),
        **draw(
            st.dictionaries(
                st.sampled_from(["sasl.jaas.config", "ssl.key.password", "sasl.oauthbearer.token"]),
                secrets,
                max_size=2,
            )
        ),
    }
    return fields


@given(fields=kafka_configs())
def test_valid_kafka_configs_parse_and_build_client_settings(fields: dict[str, Any]) -> None:
    config = KafkaConfig(**fields)

    settings = config.producer_config()
    consumer = config.consumer_config()
    assert isinstance(config.bootstrap_servers, tuple)
    assert settings["bootstrap.servers"] == ",".join(config.bootstrap_servers)
    assert settings["enable.idempotence"] is True
    assert consumer["group.id"] == fields["group_id"]
    assert consumer["enable.auto.commit"] is False
    assert isinstance(config.security_protocol, SecurityProtocol)
    assert settings["security.protocol"] == config.security_protocol.value
    if "sasl_plain_password" in fields:
        assert settings["sasl.password"] == fields["sasl_plain_password"]


@given(fields=kafka_configs())
def test_secrets_never_appear_in_repr(fields: dict[str, Any]) -> None:
    config = KafkaConfig(**fields)

    text = repr(config)
    assert "SECRET" not in text
    if "sasl_plain_password" in fields:
        assert "sasl_plain_password=********" in text


INVALID_KAFKA: list[tuple[str, Any, str]] = [
    ("name", "", "kafka.name"),
    ("name", "   ", "kafka.name"),
    ("group_id", "", "kafka.group_id"),
    ("client_id", 5, "kafka.client_id"),
    ("bootstrap_servers", "", "kafka.bootstrap_servers"),
    ("bootstrap_servers", [], "kafka.bootstrap_servers"),
    ("bootstrap_servers", "localhost", "kafka.bootstrap_servers"),
    ("bootstrap_servers", "localhost:0", "kafka.bootstrap_servers"),
    ("bootstrap_servers", "localhost:70000", "kafka.bootstrap_servers"),
    ("bootstrap_servers", "local host:9092", "kafka.bootstrap_servers"),
    ("num_partitions", 0, "kafka.num_partitions"),
    ("num_partitions", True, "kafka.num_partitions"),
    ("replication_factor", -1, "kafka.replication_factor"),
    ("auto_offset_reset", "newest", "kafka.auto_offset_reset"),
    ("security_protocol", "TLS", "kafka.security_protocol"),
    ("sasl_mechanism", "MD5", "kafka.sasl_mechanism"),
    ("ssl_ca_location", "/nonexistent/ca.pem", "kafka.ssl_ca_location"),
    ("extra", {"linger.ms": [1]}, "kafka.extra.linger.ms"),
    ("extra", {"": 1}, "kafka.extra"),
    ("producer_extra", "acks=all", "kafka.producer_extra"),
]


def base_fields() -> dict[str, Any]:
    return {"name": "n", "group_id": "g", "client_id": "c", "bootstrap_servers": "localhost:9092"}


@pytest.mark.parametrize(("field", "value", "reported"), INVALID_KAFKA)
def test_invalid_kafka_values_name_the_field(field: str, value: Any, reported: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        KafkaConfig(**{**base_fields(), field: value})

    assert caught.value.field == reported
    assert str(caught.value).startswith(reported)


@given(
    field=st.sampled_from(["num_partitions", "replication_factor"]),
    value=st.integers(max_value=0),
)
def test_non_positive_counts_are_refused(field: str, value: int) -> None:
    with pytest.raises(ConfigurationError) as caught:
        KafkaConfig(**{**base_fields(), field: value})

    assert caught.value.field == f"kafka.{field}"


@given(port=st.one_of(st.integers(max_value=0), st.integers(min_value=65536, max_value=99999)))
def test_out_of_range_ports_are_refused(port: int) -> None:
    with pytest.raises(ConfigurationError, match="host:port"):
        KafkaConfig(**{**base_fields(), "bootstrap_servers": f"broker:{port}"})


def test_sasl_requires_a_mechanism_and_credentials() -> None:
    with pytest.raises(ConfigurationError) as no_mechanism:
        KafkaConfig(**base_fields(), security_protocol="SASL_SSL")
    with pytest.raises(ConfigurationError) as no_password:
        KafkaConfig(
            **base_fields(),
            security_protocol="SASL_SSL",
            sasl_mechanism="PLAIN",
            sasl_plain_username="u",
        )

    assert no_mechanism.value.field == "kafka.sasl_mechanism"
    assert no_password.value.field == "kafka.sasl_plain_password"


def test_deprecated_security_mechanism_is_read_as_sasl_mechanism() -> None:
    config = KafkaConfig(
        **base_fields(),
        security_protocol="sasl_plaintext",
        security_mechanism="scram_sha_512",
        sasl_plain_username="u",
        sasl_plain_password="p",
    )

    assert config.sasl_mechanism is SaslMechanism.SCRAM_SHA_512
    assert config.client_config()["sasl.mechanism"] == "SCRAM-SHA-512"


def test_tls_files_must_exist_and_come_in_pairs(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("cert")

    with pytest.raises(ConfigurationError) as caught:
        KafkaConfig(**base_fields(), security_protocol="SSL", ssl_certificate_location=str(cert))
    config = KafkaConfig(
        **base_fields(),
        security_protocol="SSL",
        ssl_ca_location=str(cert),
        ssl_certificate_location=str(cert),
        ssl_key_location=str(cert),
        ssl_key_password="SECRET-key",
    )

    assert caught.value.field == "kafka.ssl_key_location"
    assert config.client_config()["ssl.key.location"] == str(cert)
    assert "SECRET" not in repr(config)


def test_with_overrides_validates_again() -> None:
    config = KafkaConfig(**base_fields())

    assert config.with_overrides(num_partitions=6).num_partitions == 6
    with pytest.raises(ConfigurationError, match=r"kafka\.num_partitions"):
        config.with_overrides(num_partitions=0)


def test_configs_are_frozen() -> None:
    config = KafkaConfig(**base_fields())

    with pytest.raises(dataclasses.FrozenInstanceError):
        config.name = "other"  # pyright: ignore[reportAttributeAccessIssue]


# --- SchemaRegistryConfig ---------------------------------------------------------------

urls = st.builds(
    "{}://{}:{}{}".format,
    st.sampled_from(["http", "https"]),
    hosts,
    ports,
    st.sampled_from(["", "/", "/registry", "/registry/"]),
) | st.from_regex(r"\Amock://[a-z0-9-]{1,20}\Z")


@given(url=urls, key=st.none() | names, secret=secrets)
def test_valid_registry_configs_parse(url: str, key: str | None, secret: str) -> None:
    config = SchemaRegistryConfig(
        url=url, api_key=key, api_secret=secret if key is not None else None
    )

    client = config.client_config()
    assert not config.url.endswith("/")
    assert client["url"] == config.url
    if key is not None:
        assert client["basic.auth.user.info"] == f"{key}:{secret}"
    assert "SECRET" not in repr(config)


@given(
    url=st.one_of(
        st.just(""),
        st.just("localhost:8081"),
        st.just("ftp://registry"),
        st.just("http://"),
        st.builds("http://{} {}".format, hosts, hosts),
    )
)
def test_invalid_registry_urls_name_the_field(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SchemaRegistryConfig(url=url)

    assert caught.value.field == "schema_registry.url"


@pytest.mark.parametrize(
    ("key", "secret", "reported"),
    [("k", None, "schema_registry.api_secret"), (None, "s", "schema_registry.api_key")],
)
def test_api_key_and_secret_come_together(
    key: str | None, secret: str | None, reported: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SchemaRegistryConfig(url="http://r:8081", api_key=key, api_secret=secret)

    assert caught.value.field == reported


def test_registry_extra_settings_pass_through_with_secrets_masked() -> None:
    config = SchemaRegistryConfig(
        url="https://r:8081", extra={"timeout": 5, "ssl.key.password": "SECRET-x"}
    )

    assert config.client_config()["timeout"] == 5
    assert config.client_config()["ssl.key.password"] == "SECRET-x"
    assert "SECRET" not in repr(config)


def test_configuration_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match=r"schema_registry\.url"):
        SchemaRegistryConfig(url="nope")
