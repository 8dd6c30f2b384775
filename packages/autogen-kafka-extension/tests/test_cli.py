"""The ``akx`` command against a live runtime on the session's stack."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from autogen_core import BaseAgent, MessageContext, TypeSubscription
from confluent_kafka import Producer

from akx_dev import KafkaStack
from autogen_kafka_extension import KafkaAgentRuntime, KafkaAgentRuntimeConfig
from autogen_kafka_extension._cli import main


class Echo(BaseAgent):
    def __init__(self) -> None:
        super().__init__("echo")

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        return message


@pytest.fixture
async def runtime(kafka_stack: KafkaStack, topic_name: Any) -> AsyncIterator[KafkaAgentRuntime]:
    kafka = kafka_stack.kafka_config("cli-test")
    config = KafkaAgentRuntimeConfig(
        kafka_config=kafka,
        request_topic=topic_name("req"),
        response_topic=topic_name("resp"),
        registry_topic=topic_name("registry"),
        subscription_topic=topic_name("subs"),
        publish_topic=topic_name("pub"),
    )
    async with KafkaAgentRuntime(config) as running:
        await running.register_factory("echo_agent", Echo)
        await running.add_subscription(TypeSubscription("news", "echo_agent"))
        yield running


def _args(runtime: KafkaAgentRuntime, stack: KafkaStack, *command: str) -> list[str]:
    config = runtime.config
    assert config.publish_topic is not None
    return [
        *command,
        "--bootstrap-servers",
        stack.bootstrap_servers,
        "--schema-registry-url",
        stack.schema_registry_url,
        "--request-topic",
        config.request_topic,
        "--registry-topic",
        config.registry_topic,
        "--subscription-topic",
        config.subscription_topic,
        "--publish-topic",
        config.publish_topic,
    ]


async def test_agents_lists_types_and_workers(
    runtime: KafkaAgentRuntime, kafka_stack: KafkaStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(runtime, kafka_stack, "agents", "--json")) == 0
    assert json.loads(capsys.readouterr().out) == {"echo_agent": [runtime.worker_id]}


async def test_subscriptions_and_tail(
    runtime: KafkaAgentRuntime, kafka_stack: KafkaStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(runtime, kafka_stack, "subscriptions", "--json")) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["kind"], row["topic_type"], row["agent_type"]) == ("type", "news", "echo_agent")
    registry = runtime.config.registry_topic
    assert main(_args(runtime, kafka_stack, "tail", registry, "--json", "--max", "1")) == 0
    [line] = capsys.readouterr().out.splitlines()
    event = json.loads(line)
    assert event["type"] == "RegistrationEvent"
    assert event["event"]["agent_type"] == "echo_agent"


async def test_dlq_list_and_replay(
    runtime: KafkaAgentRuntime,
    kafka_stack: KafkaStack,
    topic_name: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, dlq = topic_name("source"), topic_name("source.dlq")
    producer = Producer({"bootstrap.servers": kafka_stack.bootstrap_servers})
    producer.produce(
        dlq,
        b"poison",
        key=b"k1",
        headers=[("dlq-error-type", b"EventDecodeError"), ("dlq-source-topic", source.encode())],
    )
    producer.flush(10)
    assert main(_args(runtime, kafka_stack, "dlq", "list", dlq, "--json")) == 0
    [row] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert row["dlq-error-type"] == "EventDecodeError"
    assert main(_args(runtime, kafka_stack, "dlq", "replay", dlq)) == 0
    assert "replayed 1 of 1" in capsys.readouterr().out
    from autogen_kafka_extension._topic_reader import read_topic

    [replayed] = list(read_topic({"bootstrap.servers": kafka_stack.bootstrap_servers}, source))
    assert replayed.value() == b"poison"
    assert not any(k.startswith("dlq-") for k, _v in replayed.headers() or [])


async def test_topics_create(
    runtime: KafkaAgentRuntime, kafka_stack: KafkaStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(runtime, kafka_stack, "topics", "create", "--agent-type", "planner")) == 0
    out = capsys.readouterr().out
    assert f"{runtime.config.request_topic}.planner  partitions=3" in out


def test_unreachable_broker_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "agents",
        "--bootstrap-servers",
        "127.0.0.1:1",
        "--schema-registry-url",
        "http://127.0.0.1:1",
    ]
    assert main(args) == 1
    assert "no broker of '127.0.0.1:1' answered" in capsys.readouterr().err
