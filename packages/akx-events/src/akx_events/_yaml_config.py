"""YAML configuration files: ``${ENV}`` interpolation and errors that name key and line.

The layout is the one users of the original extension have::

    kafka:
      name: worker-1
      bootstrap_servers: "localhost:9092"
      group_id: agents
      client_id: worker-1
      sasl_plain_password: "${KAFKA_PASSWORD}"
      schema_registry:
        url: "http://localhost:8081"
    runtime: {...}     # read by akx-runtime
    agent: {...}       # read by akx-bridge
    memory: {...}      # read by akx-memory
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import yaml

from ._config import KafkaConfig, SchemaRegistryConfig
from .exceptions import ConfigurationError

__all__ = ["ConfigFile", "kafka_config_from_section"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigFile:
    """A parsed YAML configuration file that knows where each key was written.

    Raises:
        ConfigurationError: the file is missing, not YAML, not a mapping at the top,
            or names an environment variable that is not set.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            text = self.path.read_text()
        except OSError as exc:
            raise ConfigurationError(str(self.path), f"cannot read file: {exc.strerror}") from exc
        try:
            self._root = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{self.path}:{mark.line + 1}" if mark is not None else str(self.path)
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigurationError(where, f"not valid YAML: {problem}") from exc
        if not isinstance(data, dict):
            raise ConfigurationError(str(self.path), "the top level must be a mapping of sections")
        self.data: dict[str, Any] = self._interpolate(cast("dict[str, Any]", data), ())

    def line_of(self, *keys: str) -> int | None:
        """The 1-based line where the value at ``keys`` is written, if known."""
        node: Any = self._root
        for key in keys:
            if not isinstance(node, yaml.MappingNode):
                return None
            for key_node, value_node in node.value:
                if key_node.value == key:
                    node = value_node
                    break
            else:
                return None
        return int(node.start_mark.line) + 1 if node is not None else None

    def where(self, *keys: str) -> str:
        """``file:line key.path`` for error messages."""
        line = self.line_of(*keys)
        location = f"{self.path}:{line}" if line is not None else str(self.path)
        return f"{location} {'.'.join(keys)}"

    def _interpolate(self, value: Any, keys: tuple[str, ...]) -> Any:
        if isinstance(value, str):
            return self._expand(value, keys)
        if isinstance(value, dict):
            items = cast("dict[Any, Any]", value).items()
            return {str(k): self._interpolate(v, (*keys, str(k))) for k, v in items}
        if isinstance(value, list):
            items_list = cast("list[Any]", value)
            return [self._interpolate(v, (*keys, str(i))) for i, v in enumerate(items_list)]
        return value

    def _expand(self, text: str, keys: tuple[str, ...]) -> str:
        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = os.environ.get(name)
            if found is not None:
                return found
            if default is not None:
                return default
            raise ConfigurationError(
                self.where(*keys), f"environment variable {name} is not set (written ${{{name}}})"
            )

        return _ENV.sub(replace, text)

    def section(self, name: str, *, required: bool = True) -> dict[str, Any]:
        """A top-level section as a mapping (empty when absent and not required)."""
        value = self.data.get(name)
        if value is None:
            if required:
                raise ConfigurationError(str(self.path), f"missing section {name!r}")
            return {}
        if not isinstance(value, dict):
            raise ConfigurationError(self.where(name), "must be a mapping")
        return cast("dict[str, Any]", value)

    def build(self, cls: type[Any], section: tuple[str, ...], values: Mapping[str, Any]) -> Any:
        """Construct a config dataclass, turning mistakes into errors with file and line."""
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        for key in values:
            if key not in known:
                raise ConfigurationError(
                    self.where(*section, key),
                    f"unknown setting {key!r}; expected one of {', '.join(sorted(known))}",
                )
        try:
            return cls(**values)
        except ConfigurationError as exc:
            key = exc.field.rsplit(".", 1)[-1]
            raise ConfigurationError(self.where(*section, key), str(exc)) from exc
        except TypeError as exc:
            raise ConfigurationError(self.where(*section), str(exc)) from exc


def kafka_config_from_section(file: ConfigFile, name: str = "kafka") -> KafkaConfig:
    """Build a :class:`KafkaConfig` from a section of a configuration file."""
    values = dict(file.section(name))
    registry = values.pop("schema_registry", None)
    if registry is not None:
        if not isinstance(registry, dict):
            raise ConfigurationError(file.where(name, "schema_registry"), "must be a mapping")
        values["schema_registry_config"] = file.build(
            SchemaRegistryConfig, (name, "schema_registry"), cast("dict[str, Any]", registry)
        )
    return cast(KafkaConfig, file.build(KafkaConfig, (name,), values))
