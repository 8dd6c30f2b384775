"""Construction, configuration and type checks: no broker needed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from autogen_core import AgentId, SingleThreadedAgentRuntime
from autogen_core.exceptions import CantHandleException

from akx_bridge import (
    BridgeClosedError,
    BridgeTimeoutError,
    KafkaAgentConfig,
    KafkaMessageType,
    KafkaStreamingAgent,
    RequestProcessor,
    RequestProcessorConfig,
    load_agent_config,
)
from akx_events import ConfigurationError, KafkaConfig, SchemaRegistryConfig, UnsupportedTypeError


@dataclass
class Ask(KafkaMessageType):
    avro_namespace = "akx.tests.bridge"
    text: str


@dataclass
class Answer(KafkaMessageType):
    avro_namespace = "akx.tests.bridge"
    text: str


class NotADataclass(KafkaMessageType):
    pass


@dataclass
class PlainDataclass:
    text: str


@dataclass
class WithSet(KafkaMessageType):
    tags: set[str]


def offline_config(**overrides: Any) -> KafkaAgentConfig:
    # Port 9 (discard) on loopback: nothing listens, so any Kafka I/O would fail.
    kafka = KafkaConfig(
        name="offline",
        group_id="offline",
        client_id="offline",
        bootstrap_servers="127.0.0.1:9",
        schema_registry_config=SchemaRegistryConfig(url="http://127.0.0.1:9"),
    )
    values: dict[str, Any] = {
        "kafka_config": kafka,
        "request_topic": "ext.requests",
        "response_topic": "ext.responses",
        **overrides,
    }
    return KafkaAgentConfig(**values)


@pytest.mark.parametrize(
    ("request_type", "response_type", "argument", "reason"),
    [
        (None, Answer, "request_type", "required"),
        (Ask, None, "response_type", "required"),
        (PlainDataclass, Answer, "request_type", "does not derive"),
        (Ask, NotADataclass, "response_type", "not a @dataclass"),
        (Ask(text="x"), Answer, "request_type", "got the Ask"),
        (Ask, str, "response_type", "does not derive"),
    ],
)
def test_message_types_are_checked_at_construction(
    request_type: Any, response_type: Any, argument: str, reason: str
) -> None:
    with pytest.raises(TypeError, match=argument) as caught:
        KafkaStreamingAgent(offline_config(), "bridge", request_type, response_type)
    assert reason in str(caught.value)


def test_both_message_types_are_required() -> None:
    with pytest.raises(TypeError, match=r"request_type.*response_type"):
        KafkaStreamingAgent(offline_config(), "bridge")  # type: ignore[call-arg]


def test_a_field_without_avro_mapping_is_refused_at_construction() -> None:
    with pytest.raises(UnsupportedTypeError, match=r"WithSet\.tags"):
        KafkaStreamingAgent(offline_config(), "bridge", WithSet, Answer)


def test_config_must_be_an_agent_config() -> None:
    with pytest.raises(TypeError, match="KafkaAgentConfig"):
        KafkaStreamingAgent({"request_topic": "x"}, "bridge", Ask, Answer)  # type: ignore[arg-type]


async def test_other_message_types_raise_cant_handle_without_touching_kafka() -> None:
    runtime = SingleThreadedAgentRuntime()
    agent = KafkaStreamingAgent(offline_config(), "bridge", Ask, Answer)
    await runtime.register_agent_instance(agent, AgentId("bridge", "default"))
    runtime.start()
    try:
        with pytest.raises(CantHandleException, match="handles Ask messages only, got str"):
            await runtime.send_message("hello", AgentId("bridge", "default"))
        with pytest.raises(CantHandleException, match="got Answer"):
            await runtime.send_message(Answer(text="x"), AgentId("bridge", "default"))
        assert agent.stats.requests == 0
    finally:
        await runtime.stop()
        await runtime.close()
    with pytest.raises(BridgeClosedError):
        await agent.start()


async def test_closing_an_unstarted_agent_twice_is_harmless() -> None:
    agent = KafkaStreamingAgent(offline_config(), "bridge", Ask, Answer)
    await agent.close()
    await agent.close()
    assert await agent.save_state() == {}


def test_timeout_error_is_also_a_builtin_timeout_error() -> None:
    error = BridgeTimeoutError("abc.1", "ext.requests", 1.5)
    assert isinstance(error, TimeoutError)
    assert "abc.1" in str(error) and "1.5 s" in str(error)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"request_topic": "bad topic"}, "agent.request_topic"),
        ({"response_topic": "ext.requests"}, "agent.response_topic"),
        ({"request_timeout": 0}, "agent.request_timeout"),
        ({"request_timeout": True}, "agent.request_timeout"),
        ({"dead_letter_topic": "no/slash"}, "agent.dead_letter_topic"),
    ],
)
def test_agent_config_validation(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        offline_config(**overrides)
    assert caught.value.field == field


def test_agent_config_needs_schema_registry() -> None:
    kafka = KafkaConfig(name="n", group_id="g", client_id="c", bootstrap_servers="127.0.0.1:9")
    with pytest.raises(ConfigurationError, match="schema_registry"):
        KafkaAgentConfig(kafka_config=kafka, request_topic="a", response_topic="b")


def test_default_dead_letter_topics() -> None:
    config = offline_config()
    assert config.reply_dead_letter_topic == "ext.responses.dlq"
    processor = RequestProcessorConfig.for_agent_config(config, max_concurrency=4)
    assert processor.request_dead_letter_topic == "ext.requests.dlq"
    assert (processor.request_topic, processor.response_topic) == ("ext.requests", "ext.responses")
    assert processor.max_concurrency == 4
    with pytest.raises(ConfigurationError, match="start_from"):
        RequestProcessorConfig.for_agent_config(config, start_from="middle")


YAML = """\
kafka:
  name: bridge-worker
  bootstrap_servers: "localhost:9092"
  group_id: bridge-group
  client_id: bridge-client
  schema_registry:
    url: "http://localhost:8081"
agent:
  request_topic: "agent_request_topic"
  response_topic: "agent_response_topic"
  request_timeout: 5
"""


def test_load_agent_config_reads_kafka_and_agent_sections(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(YAML)
    config = load_agent_config(path)
    assert config.request_topic == "agent_request_topic"
    assert config.response_topic == "agent_response_topic"
    assert config.request_timeout == 5
    assert config.kafka_config.group_id == "bridge-group"
    assert config.kafka_config.schema_registry_config is not None


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ("  request_timeout: 5", "  request_timeout: -1", r"config\.yml:11 agent\.request_timeout"),
        ("  request_timeout: 5", "  timeout: 5", r"config\.yml:11 agent\.timeout: unknown setting"),
        ('  request_topic: "agent_request_topic"\n', "", "missing setting 'request_topic'"),
        ('  schema_registry:\n    url: "http://localhost:8081"\n', "", "missing schema_registry"),
    ],
)
def test_load_agent_config_errors_name_file_and_line(
    tmp_path: Path, replace: str, by: str, expected: str
) -> None:
    path = tmp_path / "config.yml"
    path.write_text(YAML.replace(replace, by))
    with pytest.raises(ConfigurationError, match=expected):
        load_agent_config(path)


async def ask_upper(request: Ask) -> Answer:
    return Answer(text=request.text.upper())


def test_processor_reads_types_from_handler_annotations() -> None:
    processor = RequestProcessor(offline_config(), ask_upper)
    assert processor.stats.requests == 0


def test_processor_without_types_or_annotations_names_the_missing_argument() -> None:
    async def untyped(request):  # type: ignore[no-untyped-def]
        return request

    with pytest.raises(TypeError, match="request_type is required"):
        RequestProcessor(offline_config(), untyped)  # pyright: ignore[reportUnknownArgumentType]
    with pytest.raises(TypeError, match="response_type must be a @dataclass"):
        RequestProcessor(offline_config(), untyped, request_type=Ask, response_type=PlainDataclass)  # pyright: ignore[reportUnknownArgumentType]
