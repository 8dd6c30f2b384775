"""YAML configuration files and KafkaAgentRuntimeFactory."""

from __future__ import annotations

import os
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from akx_events import ConfigurationError
from akx_runtime import (
    KafkaAgentRuntime,
    KafkaAgentRuntimeConfig,
    KafkaAgentRuntimeFactory,
    load_runtime_config,
)

# ----------------------------------------------------------------------------- helpers

_RUNTIME_FIELDS = {
    "runtime_requests": "request_topic",
    "runtime_responses": "response_topic",
    "registry_topic": "registry_topic",
    "subscription_topic": "subscription_topic",
    "publish_topic": "publish_topic",
}


@contextmanager
def yaml_file(text: str) -> Iterator[Path]:
    # A fresh directory per example: hypothesis runs many examples in one test call.
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "akx.yaml"
        path.write_text(text)
        yield path


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


# ----------------------------------------------------------------------------- strategies

_WORD = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
    min_size=1,
    max_size=16,
)
_HOST = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,2}", fullmatch=True)
_PORT = st.integers(min_value=1, max_value=65535)
_TOPIC = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
    min_size=1,
    max_size=40,
).filter(lambda name: name not in (".", ".."))
_TIMEOUT = st.one_of(
    st.integers(min_value=1, max_value=3600),
    st.floats(min_value=0.001, max_value=3600, allow_nan=False, allow_infinity=False),
)


@st.composite
def valid_documents(draw: st.DrawFn) -> dict[str, Any]:
    servers = draw(st.lists(st.tuples(_HOST, _PORT), min_size=1, max_size=3))
    addresses = [f"{host}:{port}" for host, port in servers]
    kafka: dict[str, Any] = {
        "name": draw(_WORD),
        "group_id": draw(_WORD),
        "client_id": draw(_WORD),
        # Users write either a YAML list or librdkafka's comma-separated string.
        "bootstrap_servers": addresses if draw(st.booleans()) else ",".join(addresses),
        "schema_registry": {"url": f"http://{draw(_HOST)}:{draw(_PORT)}"},
    }
    if draw(st.booleans()):
        kafka["num_partitions"] = draw(st.integers(min_value=1, max_value=64))
    # Distinct from each other and from the defaults of the keys left out.
    defaults = {"agent-requests", "agent-responses", "agent-registry", "agent-subscriptions"}
    topics = draw(
        st.lists(
            _TOPIC.filter(lambda t: t not in defaults | {"agent-publish"}),
            min_size=5,
            max_size=5,
            unique=True,
        )
    )
    runtime: dict[str, Any] = {
        key: topic
        for key, topic in zip(_RUNTIME_FIELDS, topics, strict=True)
        if draw(st.booleans())
    }
    if draw(st.booleans()):
        runtime["request_timeout"] = draw(_TIMEOUT)
    if draw(st.booleans()):
        runtime["max_in_flight"] = draw(st.integers(min_value=1, max_value=10**6))
    return {"kafka": kafka, "runtime": runtime}


# ----------------------------------------------------------------------------- valid files


@settings(max_examples=60, deadline=None)
@given(document=valid_documents())
def test_valid_files_parse_into_the_right_fields(document: dict[str, Any]) -> None:
    with yaml_file(yaml.safe_dump(document)) as path:
        config = load_runtime_config(path)

    kafka, runtime = document["kafka"], document["runtime"]
    defaults = KafkaAgentRuntimeConfig(kafka_config=config.kafka_config)
    for key, field_name in _RUNTIME_FIELDS.items():
        expected = runtime.get(key, getattr(defaults, field_name))
        assert getattr(config, field_name) == expected
    assert config.request_timeout == runtime.get("request_timeout", 30.0)
    assert config.max_in_flight == runtime.get("max_in_flight", 1000)
    assert config.kafka_config.name == kafka["name"]
    assert config.kafka_config.group_id == kafka["group_id"]
    assert config.kafka_config.client_id == kafka["client_id"]
    servers = kafka["bootstrap_servers"]
    expected_servers = servers.split(",") if isinstance(servers, str) else servers
    assert list(config.kafka_config.bootstrap_servers) == expected_servers
    assert config.kafka_config.num_partitions == kafka.get("num_partitions", 3)
    registry = config.kafka_config.schema_registry_config
    assert registry is not None
    assert registry.url == kafka["schema_registry"]["url"]


@settings(max_examples=40, deadline=None)
@given(
    suffix=st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True),
    topic=_TOPIC,
    secret=st.text(
        alphabet=st.characters(
            codec="utf-8", exclude_characters="\x00", exclude_categories=["Cs", "Cc"]
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_environment_variables_are_interpolated(suffix: str, topic: str, secret: str) -> None:
    topic_var, secret_var = f"AKX_TEST_TOPIC_{suffix}", f"AKX_TEST_SECRET_{suffix}"
    unset_var = f"AKX_TEST_UNSET_{suffix}"
    text = textwrap.dedent(
        f"""\
        kafka:
          name: worker
          group_id: group
          client_id: client
          bootstrap_servers: "localhost:9092"
          security_protocol: SASL_SSL
          sasl_mechanism: PLAIN
          sasl_plain_username: user
          sasl_plain_password: "${{{secret_var}}}"
          schema_registry:
            url: "http://localhost:8081"
        runtime:
          runtime_requests: "${{{topic_var}}}"
          runtime_responses: "${{{unset_var}:-fallback-responses}}"
          registry_topic: "registry-${{{topic_var}}}"
          subscription_topic: "${{{topic_var}:-unused}}-subscriptions"
        """
    )
    with environment({topic_var: topic, secret_var: secret}), yaml_file(text) as path:
        os.environ.pop(unset_var, None)
        config = load_runtime_config(path)

    assert config.request_topic == topic
    assert config.response_topic == "fallback-responses"
    assert config.registry_topic == f"registry-{topic}"
    assert config.subscription_topic == f"{topic}-subscriptions"
    assert config.kafka_config.sasl_plain_password == secret
    assert "********" in repr(config.kafka_config)


# ----------------------------------------------------------------------------- reference files

CONFLUENT_CLOUD = """\
kafka:
    name: "simple_kafka"
    bootstrap_servers: "your-cluster.region.provider.confluent.cloud:9092"
    group_id: "your-consumer-group"
    client_id: "your-client-id"
    sasl_plain_username: "YOUR_CONFLUENT_CLOUD_API_KEY"
    sasl_plain_password: "YOUR_CONFLUENT_CLOUD_API_SECRET"
    security_protocol: "SASL_SSL"
    sasl_mechanism: "PLAIN"
    schema_registry:
        url: "https://your-schema-registry.region.provider.confluent.cloud"
        api_key: "YOUR_SCHEMA_REGISTRY_API_KEY"
        api_secret: "YOUR_SCHEMA_REGISTRY_API_SECRET"

agent:
    request_topic: "agent_request_topic"
    response_topic: "agent_response_topic"

runtime:
    runtime_requests: "runtime_requests"
    runtime_responses: "runtime_responses"
    registry_topic: "agent_registry"
    subscription_topic: "agent_subscription"
    publish_topic: "publish"
"""

QUICK_START = """\
kafka:
    name: "my-worker"
    bootstrap_servers: "localhost:9092"
    group_id: "agent-group"
    client_id: "agent-client-1"
    schema_registry:
        url: "http://localhost:8081"

runtime:
    runtime_requests: "agent-requests"
    runtime_responses: "agent-responses"
    registry_topic: "agent-registry"
    subscription_topic: "agent-subscription"
    publish_topic: "publish"
"""


async def test_the_quick_start_file_parses_and_makes_a_runtime() -> None:
    with yaml_file(QUICK_START) as path:
        runtime = await KafkaAgentRuntimeFactory.create_runtime_from_file(path)

    assert isinstance(runtime, KafkaAgentRuntime)
    config = runtime.config
    assert config.request_topic == "agent-requests"
    assert config.response_topic == "agent-responses"
    assert config.registry_topic == "agent-registry"
    assert config.subscription_topic == "agent-subscription"
    assert config.publish_topic == "publish"
    kafka = config.kafka_config
    assert (kafka.name, kafka.group_id, kafka.client_id) == (
        "my-worker",
        "agent-group",
        "agent-client-1",
    )
    assert kafka.bootstrap_servers == ("localhost:9092",)
    assert kafka.schema_registry_config is not None
    assert kafka.schema_registry_config.url == "http://localhost:8081"
    # Not started: closing costs nothing and needs no broker.
    await runtime.close()


async def test_the_confluent_cloud_file_parses() -> None:
    with yaml_file(CONFLUENT_CLOUD) as path:
        config = load_runtime_config(path)

    kafka = config.kafka_config
    assert kafka.client_config()["security.protocol"] == "SASL_SSL"
    assert kafka.client_config()["sasl.mechanism"] == "PLAIN"
    assert kafka.sasl_plain_username == "YOUR_CONFLUENT_CLOUD_API_KEY"
    assert "YOUR_CONFLUENT_CLOUD_API_SECRET" not in repr(config)
    assert kafka.schema_registry_config is not None
    assert kafka.schema_registry_config.api_key == "YOUR_SCHEMA_REGISTRY_API_KEY"
    assert config.request_topic == "runtime_requests"
    assert config.publish_topic == "publish"


def test_a_null_publish_topic_turns_the_copies_off() -> None:
    text = QUICK_START.replace('publish_topic: "publish"', "publish_topic: null")
    with yaml_file(text) as path:
        config = load_runtime_config(path)
    assert config.publish_topic is None
    assert config.registry_topic == "agent-registry"  # the others as written


async def test_create_runtime_from_a_config_object() -> None:
    with yaml_file(QUICK_START) as path:
        config = load_runtime_config(path)
    runtime = await KafkaAgentRuntimeFactory.create_runtime(
        config, ignore_unhandled_exceptions=False
    )
    assert runtime.config is config
    await runtime.close()


# ----------------------------------------------------------------------------- bad files


def _document(*, kafka: str = "", runtime: str = "") -> str:
    base_kafka = textwrap.dedent(
        """\
        kafka:
          name: worker
          group_id: group
          client_id: client
          bootstrap_servers: "localhost:9092"
          schema_registry:
            url: "http://localhost:8081"
        """
    )
    kafka_text = base_kafka + textwrap.indent(textwrap.dedent(kafka), "  ")
    runtime_text = "runtime:\n" + textwrap.indent(
        textwrap.dedent(runtime) or 'runtime_requests: "requests"\n', "  "
    )
    return kafka_text + runtime_text


# (document, text on the offending line or None when no line exists, words the error names)
BAD_FILES: dict[str, tuple[str, str | None, list[str]]] = {
    "unknown runtime key": (
        _document(runtime="runtime_request: typo\n"),
        "runtime_request:",
        ["runtime.runtime_request", "unknown setting 'runtime_request'", "runtime_requests"],
    ),
    "unknown kafka key": (
        _document(kafka="bootstrap_server: typo\n"),
        "bootstrap_server:",
        ["kafka.bootstrap_server", "unknown setting"],
    ),
    "bad topic name": (
        _document(runtime='registry_topic: "agent registry"\n'),
        "registry_topic:",
        ["runtime.registry_topic", "'agent registry' is not a valid topic name"],
    ),
    "topic name Kafka reserves": (
        _document(runtime='publish_topic: ".."\n'),
        "publish_topic:",
        ["runtime.publish_topic", "'..'"],
    ),
    "same topic twice": (
        _document(runtime="registry_topic: same\nsubscription_topic: same\n"),
        "subscription_topic:",
        ["runtime.subscription_topic", "'same' is already the registry_topic", "distinct"],
    ),
    "bad timeout": (
        _document(runtime="request_timeout: -1\n"),
        "request_timeout:",
        ["runtime.request_timeout", "must be a number > 0"],
    ),
    "bad handler limit": (
        _document(runtime="max_in_flight: 0\n"),
        "max_in_flight:",
        ["runtime.max_in_flight", "0 must be a whole number >= 1"],
    ),
    "handler limit not a number": (
        _document(runtime="max_in_flight: many\n"),
        "max_in_flight:",
        ["runtime.max_in_flight", "'many'"],
    ),
    "bad worker id": (
        _document(runtime='worker_id: "no spaces please"\n'),
        "worker_id:",
        ["runtime.worker_id"],
    ),
    "bad bootstrap servers": (
        _document().replace('"localhost:9092"', '"localhost"'),
        "bootstrap_servers:",
        ["kafka.bootstrap_servers", "'localhost' is not a host:port address"],
    ),
    "missing environment variable": (
        _document(runtime='publish_topic: "${AKX_TEST_NEVER_SET_ANYWHERE}"\n'),
        "publish_topic:",
        ["runtime.publish_topic", "AKX_TEST_NEVER_SET_ANYWHERE is not set"],
    ),
    "not YAML": (
        _document() + "  - [unclosed\n",
        "- [unclosed",
        ["not valid YAML"],
    ),
    "runtime not a mapping": (
        _document().split("runtime:")[0] + "runtime: 5\n",
        "runtime: 5",
        ["runtime", "must be a mapping"],
    ),
    # The key is absent, so it has no line of its own; the error names file and key.
    "missing kafka section": (
        'runtime:\n  runtime_requests: "requests"\n',
        None,
        ["missing section 'kafka'"],
    ),
    "SASL without user name": (
        _document(kafka="security_protocol: SASL_SSL\nsasl_mechanism: PLAIN\n"),
        None,
        ["kafka.sasl_plain_username", "required with sasl_mechanism PLAIN"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_name_file_line_and_key(case: str) -> None:
    text, line_text, words = BAD_FILES[case]
    os.environ.pop("AKX_TEST_NEVER_SET_ANYWHERE", None)
    with yaml_file(text) as path, pytest.raises(ConfigurationError) as caught:
        load_runtime_config(path)

    message = str(caught.value)
    where = f"{path}:{line_of(text, line_text)}" if line_text is not None else str(path)
    assert where in message
    for word in words:
        assert word in message


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read file"):
        load_runtime_config(tmp_path / "absent.yaml")
