"""The README's quick starts run verbatim (addresses and topic names substituted)."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from autogen_core import AgentId

from akx_dev import KafkaStack
from akx_runtime import KafkaAgentRuntime, KafkaAgentRuntimeConfig, RecipientNotFoundError

README = Path(__file__).resolve().parents[1] / "README.md"
TOPICS = ("agent-requests", "agent-responses", "agent-registry", "agent-subscription", "publish")


def _block(marker: str) -> str:
    text = README.read_text()
    match = re.search(rf"<!-- {marker} -->\n```[a-z]+\n(.*?)```", text, re.S)
    assert match, f"README has no block marked {marker}"
    return match.group(1)


def _substitute(code: str, stack: KafkaStack, suffix: str) -> str:
    code = code.replace("localhost:9092", stack.bootstrap_servers)
    code = code.replace("http://localhost:8081", stack.schema_registry_url)
    for topic in TOPICS:
        code = code.replace(f'"{topic}"', f'"{topic}-{suffix}"')
    return code


def _client_config(stack: KafkaStack, suffix: str) -> KafkaAgentRuntimeConfig:
    kafka = stack.kafka_config("readme-client")
    names = [f"{t}-{suffix}" for t in TOPICS]
    return KafkaAgentRuntimeConfig(
        kafka_config=kafka,
        request_topic=names[0],
        response_topic=names[1],
        registry_topic=names[2],
        subscription_topic=names[3],
        publish_topic=names[4],
        request_timeout=60,
    )


async def _echo_through(namespace: dict[str, Any], stack: KafkaStack, suffix: str) -> None:
    worker = asyncio.create_task(namespace["main"]())
    client = KafkaAgentRuntime(_client_config(stack, suffix))
    await client.start()
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            assert not worker.done(), worker.exception()
            try:
                reply = await client.send_message("hello", AgentId("echo_agent", "default"))
                break
            except RecipientNotFoundError:
                # The worker's registration is not visible yet.
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.1)
        assert reply == "Echo: hello"
    finally:
        await client.close()
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker


async def test_yaml_quick_start(
    kafka_stack: KafkaStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = uuid.uuid4().hex[:8]
    (tmp_path / "config.yml").write_text(
        _substitute(_block("quickstart:yaml-config"), kafka_stack, suffix)
    )
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "readme_quickstart"}
    exec(_substitute(_block("quickstart:yaml-code"), kafka_stack, suffix), namespace)
    await _echo_through(namespace, kafka_stack, suffix)


async def test_code_quick_start(kafka_stack: KafkaStack) -> None:
    suffix = uuid.uuid4().hex[:8]
    namespace: dict[str, Any] = {"__name__": "readme_quickstart"}
    exec(_substitute(_block("quickstart:code"), kafka_stack, suffix), namespace)
    await _echo_through(namespace, kafka_stack, suffix)
