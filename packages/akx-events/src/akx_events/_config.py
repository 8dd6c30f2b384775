"""Kafka and Schema Registry configuration shared by every akx component."""

from __future__ import annotations

import dataclasses
import enum
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .exceptions import ConfigurationError

__all__ = [
    "ClientSettings",
    "KafkaConfig",
    "SaslMechanism",
    "SchemaRegistryConfig",
    "SecurityProtocol",
]

#: librdkafka settings as a mapping of property name to value.
ClientSettings = Mapping[str, str | int | float | bool]

_MASK = "********"
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$")
_OFFSET_RESETS = ("earliest", "latest", "smallest", "largest", "beginning", "end", "error")


class SecurityProtocol(str, enum.Enum):
    """How clients talk to the brokers (librdkafka ``security.protocol``)."""

    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(str, enum.Enum):
    """SASL mechanism (librdkafka ``sasl.mechanism``)."""

    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"
    GSSAPI = "GSSAPI"
    OAUTHBEARER = "OAUTHBEARER"


_SECRET_KEY = re.compile(r"password|secret|token|jaas|credential|basic\.auth|api\.key", re.I)


def _mask_mapping(settings: Mapping[str, Any]) -> dict[str, Any]:
    # Free-form librdkafka settings may carry secrets too (sasl.jaas.config, ...).
    return {k: (_MASK if _SECRET_KEY.search(str(k)) else v) for k, v in settings.items()}


def _secret_repr(obj: Any, secrets: tuple[str, ...]) -> str:
    parts: list[str] = []
    for f in dataclasses.fields(obj):
        if not f.repr:
            continue
        value = getattr(obj, f.name)
        if f.name in secrets and value is not None:
            shown = _MASK
        elif isinstance(value, Mapping):
            shown = repr(_mask_mapping(value))  # pyright: ignore[reportUnknownArgumentType]
        else:
            shown = repr(value)
        parts.append(f"{f.name}={shown}")
    return f"{type(obj).__name__}({', '.join(parts)})"


def _enum_value(field_name: str, value: Any, kind: type[enum.Enum]) -> Any:
    if value is None or isinstance(value, kind):
        return value
    text = str(getattr(value, "value", value)).strip().upper().replace("_", "-")
    for member in kind:
        if text in (member.value.upper(), member.name.replace("_", "-")):
            return member
    choices = ", ".join(m.value for m in kind)
    raise ConfigurationError(field_name, f"{value!r} is not one of {choices}")


def _check_readable_file(field_name: str, path: str | None) -> None:
    if path is None:
        return
    if not os.path.isfile(path):
        raise ConfigurationError(field_name, f"file {path!r} does not exist")
    if not os.access(path, os.R_OK):
        raise ConfigurationError(field_name, f"file {path!r} is not readable")


def _check_settings(field_name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(settings, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigurationError(field_name, f"expected a mapping, got {type(settings).__name__}")
    for key, value in settings.items():
        if not isinstance(key, str) or not key:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(field_name, f"setting name {key!r} must be a non-empty string")
        if not isinstance(value, (str, int, float, bool)):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(
                f"{field_name}.{key}", f"value {value!r} must be a string, number or boolean"
            )
    return dict(settings)


@dataclass(frozen=True, kw_only=True, repr=False)
class SchemaRegistryConfig:
    """Where Schema Registry is and how akx uses it.

    Attributes:
        url: base URL, e.g. ``http://localhost:8081``; ``mock://name`` for unit tests.
        api_key: basic-auth user (Confluent Cloud API key).
        api_secret: basic-auth password (Confluent Cloud API secret); masked in ``repr``.
        auto_register_schemas: register akx's schemas at start-up (development); turn
            off in production where schemas are registered by a pipeline.
        use_latest_version: with auto-registration off, encode with the latest
            registered version of each subject instead of looking up the exact schema.
        extra: further ``SchemaRegistryClient`` settings, passed through unchanged.
    """

    url: str
    api_key: str | None = None
    api_secret: str | None = None
    auto_register_schemas: bool = True
    use_latest_version: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict[str, Any])

    def __post_init__(self) -> None:
        # A YAML file can hold any type here (``url: 8081``): refuse it as a bad
        # setting rather than fail on .strip().
        url = self.url.strip() if isinstance(self.url, str) else ""  # pyright: ignore[reportUnnecessaryIsInstance]
        if not re.match(r"^(https?|mock)://[^\s]+$", url):
            raise ConfigurationError(
                "schema_registry.url",
                f"{self.url!r} is not an http://, https:// or mock:// URL",
            )
        object.__setattr__(self, "url", url.rstrip("/"))
        if (self.api_key is None) != (self.api_secret is None):
            missing = "api_secret" if self.api_secret is None else "api_key"
            raise ConfigurationError(
                f"schema_registry.{missing}", "api_key and api_secret must be given together"
            )
        object.__setattr__(self, "extra", dict(self.extra))

    def __repr__(self) -> str:
        return _secret_repr(self, ("api_secret",))

    def client_config(self) -> dict[str, Any]:
        """Settings for ``confluent_kafka.schema_registry.SchemaRegistryClient``."""
        conf: dict[str, Any] = {"url": self.url}
        if self.api_key is not None and self.api_secret is not None:
            conf["basic.auth.user.info"] = f"{self.api_key}:{self.api_secret}"
        conf.update(self.extra)
        return conf


def _bootstrap_tuple(value: str | Sequence[str]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    servers = tuple(str(item).strip() for item in items if str(item).strip())
    if not servers:
        raise ConfigurationError("kafka.bootstrap_servers", "at least one host:port is required")
    for server in servers:
        match = _HOST_PORT.match(server)
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise ConfigurationError(
                "kafka.bootstrap_servers", f"{server!r} is not a host:port address"
            )
    return servers


@dataclass(frozen=True, kw_only=True, repr=False)
class KafkaConfig:
    """How an akx component connects to Kafka.

    Attributes:
        name: a name for this component, used in client ids and logs.
        group_id: base consumer group id; components derive their groups from it.
        client_id: librdkafka ``client.id``.
        bootstrap_servers: ``host:port`` addresses, as a list or a comma-separated string.
        schema_registry_config: where Schema Registry is.
        num_partitions: partitions of the topics akx creates.
        replication_factor: replication of the topics akx creates.
        auto_offset_reset: where a new consumer group starts (``earliest``/``latest``).
        security_protocol: ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``.
        sasl_mechanism: ``PLAIN``, ``SCRAM-SHA-256``, ``SCRAM-SHA-512``, ``GSSAPI``
            or ``OAUTHBEARER``.
        sasl_plain_username: SASL user name.
        sasl_plain_password: SASL password; masked in ``repr``.
        ssl_ca_location: CA bundle used to verify the brokers.
        ssl_certificate_location: client certificate (mutual TLS).
        ssl_key_location: client private key (mutual TLS).
        ssl_key_password: password of the client key; masked in ``repr``.
        extra: further librdkafka settings for every client, passed through unchanged.
        producer_extra: further librdkafka settings for producers only.
        consumer_extra: further librdkafka settings for consumers only.
        security_mechanism: deprecated spelling of ``sasl_mechanism``.
    """

    name: str
    group_id: str
    client_id: str
    bootstrap_servers: str | Sequence[str]
    schema_registry_config: SchemaRegistryConfig | None = None
    num_partitions: int = 3
    replication_factor: int = 1
    auto_offset_reset: str = "latest"
    security_protocol: SecurityProtocol | str = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism | str | None = None
    sasl_plain_username: str | None = None
    sasl_plain_password: str | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: str | None = None
    extra: ClientSettings = field(default_factory=dict[str, Any])
    producer_extra: ClientSettings = field(default_factory=dict[str, Any])
    consumer_extra: ClientSettings = field(default_factory=dict[str, Any])
    security_mechanism: SaslMechanism | str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("name", "group_id", "client_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"kafka.{name}", f"{value!r} must be a non-empty string")
        object.__setattr__(self, "bootstrap_servers", _bootstrap_tuple(self.bootstrap_servers))
        for name in ("num_partitions", "replication_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"kafka.{name}", f"{value!r} must be an integer >= 1")
        if self.auto_offset_reset not in _OFFSET_RESETS:
            raise ConfigurationError(
                "kafka.auto_offset_reset",
                f"{self.auto_offset_reset!r} is not one of {', '.join(_OFFSET_RESETS)}",
            )
        protocol = _enum_value("kafka.security_protocol", self.security_protocol, SecurityProtocol)
        object.__setattr__(self, "security_protocol", protocol)
        mechanism = (
            self.sasl_mechanism if self.sasl_mechanism is not None else self.security_mechanism
        )
        mechanism = _enum_value("kafka.sasl_mechanism", mechanism, SaslMechanism)
        object.__setattr__(self, "sasl_mechanism", mechanism)
        object.__setattr__(self, "security_mechanism", None)
        self._check_security(protocol, mechanism)
        for name in ("extra", "producer_extra", "consumer_extra"):
            object.__setattr__(self, name, _check_settings(f"kafka.{name}", getattr(self, name)))

    def _check_security(self, protocol: SecurityProtocol, mechanism: SaslMechanism | None) -> None:
        uses_sasl = protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)
        if uses_sasl:
            if mechanism is None:
                raise ConfigurationError(
                    "kafka.sasl_mechanism", f"required with security_protocol {protocol.value}"
                )
            needs_password = mechanism in (
                SaslMechanism.PLAIN,
                SaslMechanism.SCRAM_SHA_256,
                SaslMechanism.SCRAM_SHA_512,
            )
            if needs_password:
                for name in ("sasl_plain_username", "sasl_plain_password"):
                    if not getattr(self, name):
                        raise ConfigurationError(
                            f"kafka.{name}", f"required with sasl_mechanism {mechanism.value}"
                        )
        for name in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location"):
            _check_readable_file(f"kafka.{name}", getattr(self, name))
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            raise ConfigurationError(
                "kafka.ssl_key_location",
                "ssl_certificate_location and ssl_key_location must be given together",
            )

    def __repr__(self) -> str:
        return _secret_repr(self, ("sasl_plain_password", "ssl_key_password"))

    @property
    def bootstrap_servers_str(self) -> str:
        """The bootstrap servers as librdkafka's comma-separated string."""
        return ",".join(self.bootstrap_servers)

    def client_config(self) -> dict[str, Any]:
        """Librdkafka settings common to producers, consumers and admin clients."""
        protocol = SecurityProtocol(self.security_protocol)
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers_str,
            "client.id": self.client_id,
            "security.protocol": protocol.value,
        }
        if self.sasl_mechanism is not None:
            conf["sasl.mechanism"] = SaslMechanism(self.sasl_mechanism).value
        optional = {
            "sasl.username": self.sasl_plain_username,
            "sasl.password": self.sasl_plain_password,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password,
        }
        conf.update({key: value for key, value in optional.items() if value is not None})
        conf.update(self.extra)
        return conf

    def producer_config(self) -> dict[str, Any]:
        """Librdkafka settings for an idempotent producer."""
        conf = self.client_config()
        conf.update({"enable.idempotence": True, "acks": "all"})
        conf.update(self.producer_extra)
        return conf

    def consumer_config(self, group_id: str | None = None) -> dict[str, Any]:
        """Librdkafka settings for a consumer that commits offsets itself.

        Args:
            group_id: consumer group; defaults to :attr:`group_id`.
        """
        conf = self.client_config()
        conf.update(
            {
                "group.id": group_id or self.group_id,
                "auto.offset.reset": self.auto_offset_reset,
                "enable.auto.commit": False,
                # Agents should fail over in seconds, not librdkafka's 45 s default;
                # 10 s is above every broker's default group.min.session.timeout.ms.
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 1_000,
            }
        )
        conf.update(self.consumer_extra)
        return conf

    def with_overrides(self, **changes: Any) -> KafkaConfig:
        """A copy of this configuration with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)
