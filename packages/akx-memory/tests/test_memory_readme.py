"""The README's quick start runs as written (addresses and topic substituted)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from akx_dev import KafkaStack

README = Path(__file__).resolve().parents[1] / "README.md"
REFERENCE = (
    Path(__file__).resolve().parents[4] / "shared" / "reference" / "original-extension-README.md"
)


def quick_start() -> str:
    match = re.search(
        r"<!-- memory-quickstart -->\n<!-- fmt:off -->\n```python\n(.*?)```",
        README.read_text(),
        re.S,
    )
    assert match, "README has no block marked memory-quickstart"
    return match.group(1)


async def test_quick_start_runs_on_the_session_stack(
    kafka_stack: KafkaStack, capsys: pytest.CaptureFixture[str]
) -> None:
    code = quick_start()
    code = code.replace('["localhost:9092"]', repr([kafka_stack.bootstrap_servers]))
    code = code.replace("http://localhost:8081", kafka_stack.schema_registry_url)
    code = code.replace('"shared-memory-topic"', f'"shared-memory-topic-{uuid.uuid4().hex[:8]}"')
    namespace: dict[str, Any] = {"__name__": "readme_quick_start"}
    exec(compile(code, str(README), "exec"), namespace)
    await namespace["main"]()
    assert capsys.readouterr().out == "Found 1 matching memories\n"


def test_quick_start_differs_from_the_original_only_by_the_mime_type() -> None:
    if not REFERENCE.exists():
        pytest.skip("the reference README is not beside the checkout")
    original = re.search(
        r"### 6\. Distributed Memory Usage\n\n```python\n(.*?)```", REFERENCE.read_text(), re.S
    )
    assert original
    ours = quick_start().replace('            mime_type="text/plain",\n', "")
    assert ours == original.group(1)
