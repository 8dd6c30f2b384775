"""``KafkaAgentRuntimeFactory``: runtimes from YAML files or config objects."""

from __future__ import annotations

import builtins
import importlib
import os
from typing import Any, cast

from akx_events import ConfigurationError
from akx_events._yaml_config import ConfigFile, kafka_config_from_section

from ._config import KafkaAgentRuntimeConfig, RetryPolicy
from ._runtime import KafkaAgentRuntime

__all__ = ["KafkaAgentRuntimeFactory", "load_runtime_config"]

# YAML key -> KafkaAgentRuntimeConfig field. The YAML names are the ones users of
# the original extension already have in their files.
_RUNTIME_KEYS = {
    "runtime_requests": "request_topic",
    "runtime_responses": "response_topic",
    "registry_topic": "registry_topic",
    "subscription_topic": "subscription_topic",
    "publish_topic": "publish_topic",
    "request_timeout": "request_timeout",
    "worker_id": "worker_id",
    "start_timeout": "start_timeout",
    "journal": "journal",
    "checkpoint_state": "checkpoint_state",
    "retry": "retry",
    "dead_letter_rpc_errors": "dead_letter_rpc_errors",
    "max_in_flight": "max_in_flight",
}
_RETRY_KEYS = ("max_attempts", "initial_backoff", "max_backoff", "retry_on")


def exception_type(name: str) -> type[BaseException]:
    """The exception class named ``name``: a builtin (``ConnectionError``) or ``pkg.mod.Cls``.

    Raises:
        ConfigurationError: no such class, or it is not an exception type.
    """
    module_name, _, attribute = name.rpartition(".")
    try:
        found = (
            getattr(importlib.import_module(module_name), attribute)
            if module_name
            else getattr(builtins, attribute)
        )
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(
            "runtime.retry.retry_on", f"cannot import {name!r}: {exc}"
        ) from exc
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise ConfigurationError("runtime.retry.retry_on", f"{name!r} is not an exception type")
    return found


def _retry_policy(file: ConfigFile, value: Any) -> RetryPolicy:
    where = file.where("runtime", "retry")
    if not isinstance(value, dict):
        raise ConfigurationError(where, f"expected a mapping of {', '.join(_RETRY_KEYS)}")
    settings = cast("dict[str, Any]", dict(value))  # pyright: ignore[reportUnknownArgumentType]
    unknown = sorted(str(k) for k in settings if k not in _RETRY_KEYS)
    if unknown:
        raise ConfigurationError(
            where, f"unknown setting {unknown[0]!r}; expected one of {', '.join(_RETRY_KEYS)}"
        )
    try:
        if "retry_on" in settings:
            names = cast(object, settings["retry_on"])
            if not isinstance(names, list):
                raise ConfigurationError(
                    "runtime.retry.retry_on", f"{names!r} must be a list of exception names"
                )
            settings["retry_on"] = tuple(
                exception_type(n) if isinstance(n, str) else exception_type(repr(n))
                for n in cast("list[object]", names)
            )
        return RetryPolicy(**settings)
    except ConfigurationError as exc:
        raise ConfigurationError(where, str(exc)) from exc


def load_runtime_config(path: str | os.PathLike[str]) -> KafkaAgentRuntimeConfig:
    """Read a :class:`KafkaAgentRuntimeConfig` from a YAML file.

    Raises:
        ConfigurationError: naming the file, line and key of the first problem.
    """
    file = ConfigFile(path)
    kafka_config = kafka_config_from_section(file)
    values: dict[str, Any] = {"kafka_config": kafka_config}
    for key, value in file.section("runtime").items():
        field_name = _RUNTIME_KEYS.get(key)
        if field_name is None:
            raise ConfigurationError(
                file.where("runtime", key),
                f"unknown setting {key!r}; expected one of {', '.join(sorted(_RUNTIME_KEYS))}",
            )
        values[field_name] = _retry_policy(file, value) if key == "retry" else value
    try:
        return KafkaAgentRuntimeConfig(**values)
    except ConfigurationError as exc:
        yaml_key = next(
            (k for k, f in _RUNTIME_KEYS.items() if f == exc.field.rsplit(".", 1)[-1]), None
        )
        where = file.where("runtime", yaml_key) if yaml_key else file.where("runtime")
        raise ConfigurationError(where, str(exc)) from exc


class KafkaAgentRuntimeFactory:
    """Create :class:`KafkaAgentRuntime` instances from files or configuration objects."""

    @staticmethod
    async def create_runtime_from_file(
        path: str | os.PathLike[str], **runtime_options: Any
    ) -> KafkaAgentRuntime:
        """A runtime configured by the YAML file at ``path`` (not started).

        Args:
            path: the YAML file (``kafka:`` and ``runtime:`` sections).
            **runtime_options: keyword arguments for :class:`KafkaAgentRuntime`
                (``tracer_provider``, ``intervention_handlers`` ...).
        """
        return KafkaAgentRuntime(load_runtime_config(path), **runtime_options)

    @staticmethod
    async def create_runtime(
        config: KafkaAgentRuntimeConfig, **runtime_options: Any
    ) -> KafkaAgentRuntime:
        """A runtime for ``config`` (not started)."""
        return KafkaAgentRuntime(config, **runtime_options)
