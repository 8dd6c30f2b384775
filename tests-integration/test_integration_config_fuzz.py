"""Property tests of the three YAML loaders: any file gives a config or a ConfigurationError.

The runtime's loader has property tests of valid files already
(packages/akx-runtime/tests/test_runtime_factory.py); these add the bad side for all three
loaders: a valid file with one value replaced by anything YAML can hold, a section
replaced, or text that is not YAML at all. Never another exception type, never a
message without the file's name.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from akx_bridge import KafkaAgentConfig, load_agent_config
from akx_events import ConfigurationError
from akx_memory import KafkaMemoryConfig, load_memory_config
from akx_runtime import KafkaAgentRuntimeConfig, load_runtime_config

_KAFKA = {
    "name": "worker",
    "bootstrap_servers": "localhost:9092",
    "group_id": "group",
    "client_id": "client",
    "schema_registry": {"url": "http://localhost:8081"},
}

VALID: dict[str, dict[str, Any]] = {
    "runtime": {
        "kafka": _KAFKA,
        "runtime": {
            "runtime_requests": "requests",
            "runtime_responses": "responses",
            "registry_topic": "registry",
            "subscription_topic": "subscriptions",
            "publish_topic": "publish",
        },
    },
    "bridge": {
        "kafka": _KAFKA,
        "agent": {"request_topic": "requests", "response_topic": "responses"},
    },
    "memory": {"kafka": _KAFKA, "memory": {"memory_topic": "memory", "k": 5}},
}

LOADERS: dict[str, tuple[Callable[[Path], Any], type]] = {
    "runtime": (load_runtime_config, KafkaAgentRuntimeConfig),
    "bridge": (load_agent_config, KafkaAgentConfig),
    "memory": (load_memory_config, KafkaMemoryConfig),
}

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # nan and infinities too
    st.text(max_size=30),
    st.sampled_from(["", " ", "${UNSET_AKX_FUZZ_VAR}", "${X:-}", "::", "a:b:c", "0"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _leaves(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(document, dict):
        for key, value in document.items():  # pyright: ignore[reportUnknownVariableType]
            yield (*path, key)
            yield from _leaves(value, (*path, key))


@contextmanager
def _file(text: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fuzz.yml"
        path.write_text(text, encoding="utf-8")
        yield path


def _check(kind: str, text: str) -> None:
    load, config_type = LOADERS[kind]
    with _file(text) as path:
        try:
            config = load(path)
        except ConfigurationError as error:
            assert "fuzz.yml" in str(error), str(error)  # noqa: PT017
        else:
            assert isinstance(config, config_type)


@pytest.mark.parametrize("kind", list(LOADERS))
def test_the_valid_documents_load(kind: str) -> None:
    load, config_type = LOADERS[kind]
    with _file(yaml.safe_dump(VALID[kind])) as path:
        assert isinstance(load(path), config_type)


@pytest.mark.parametrize("kind", list(LOADERS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_one_value_replaced_by_anything_loads_or_fails_typed(
    kind: str, data: st.DataObject
) -> None:
    document = copy.deepcopy(VALID[kind])
    path = data.draw(st.sampled_from(list(_leaves(document))))
    value = data.draw(_VALUES)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    _check(kind, yaml.safe_dump(document, allow_unicode=True))


@pytest.mark.parametrize("kind", list(LOADERS))
@settings(max_examples=40, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.sampled_from(["", "---", "[]", "- a\n- b", "kafka:", "kafka: [1]", "\x00", "a: &x *x"]),
    )
)
def test_any_text_loads_or_fails_typed(kind: str, text: str) -> None:
    _check(kind, text)
