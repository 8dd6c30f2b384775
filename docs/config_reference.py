"""Generate the configuration reference (docs/configuration.md) from the config classes.

    uv run python docs/config_reference.py > docs/configuration.md

A test checks that the committed file equals this script's output, so the reference
cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

from akx_bridge import KafkaAgentConfig
from akx_events import KafkaConfig, SchemaRegistryConfig
from akx_memory import KafkaMemoryConfig
from akx_runtime import KafkaAgentRuntimeConfig, RetryPolicy

# Where each field lands in librdkafka (or in the Schema Registry client).
LIBRDKAFKA = {
    (KafkaConfig, "bootstrap_servers"): "`bootstrap.servers`",
    (KafkaConfig, "client_id"): "`client.id`",
    (KafkaConfig, "group_id"): "`group.id` (base of derived groups)",
    (KafkaConfig, "auto_offset_reset"): "`auto.offset.reset`",
    (KafkaConfig, "security_protocol"): "`security.protocol`",
    (KafkaConfig, "sasl_mechanism"): "`sasl.mechanism`",
    (KafkaConfig, "sasl_plain_username"): "`sasl.username`",
    (KafkaConfig, "sasl_plain_password"): "`sasl.password`",
    (KafkaConfig, "ssl_ca_location"): "`ssl.ca.location`",
    (KafkaConfig, "ssl_certificate_location"): "`ssl.certificate.location`",
    (KafkaConfig, "ssl_key_location"): "`ssl.key.location`",
    (KafkaConfig, "ssl_key_password"): "`ssl.key.password`",
    (KafkaConfig, "extra"): "any property, every client",
    (KafkaConfig, "producer_extra"): "any property, producers",
    (KafkaConfig, "consumer_extra"): "any property, consumers",
    (SchemaRegistryConfig, "url"): "client `url`",
    (SchemaRegistryConfig, "api_key"): "`basic.auth.user.info` (user)",
    (SchemaRegistryConfig, "api_secret"): "`basic.auth.user.info` (password)",
}

SECTIONS: list[tuple[type[Any], str]] = [
    (KafkaConfig, "`kafka:`"),
    (SchemaRegistryConfig, "`kafka: schema_registry:`"),
    (
        KafkaAgentRuntimeConfig,
        "`runtime:` (keys `runtime_requests`, `runtime_responses` for the first two)",
    ),
    (
        RetryPolicy,
        "`runtime: retry:` (`retry_on` as a list of names: `[ConnectionError, pkg.mod.Error]`)",
    ),
    (KafkaAgentConfig, "`agent:`"),
    (KafkaMemoryConfig, "`memory:`"),
]


def _attribute_docs(cls: type[Any]) -> dict[str, str]:
    doc = inspect.getdoc(cls) or ""
    match = re.search(r"^Attributes:\n(.*?)(?:\n\S|\Z)", doc, re.S | re.M)
    if match is None:
        return {}
    found: dict[str, str] = {}
    current = None
    for line in match.group(1).splitlines():
        item = re.match(r"^\s{4}(\w+):\s*(.*)$", line)
        if item:
            current = item.group(1)
            found[current] = item.group(2).strip()
        elif current and line.strip():
            found[current] += " " + line.strip()
    return found


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
        if isinstance(value, tuple) and all(isinstance(v, type) for v in value):
            return "`[" + ", ".join(v.__name__ for v in value) + "]`"
        return "—" if value is None else f"`{getattr(value, 'value', value)!r}`"
    if field.default_factory is not dataclasses.MISSING:
        made = field.default_factory()
        return "`{}`" if made == {} else "generated"
    return "required"


def render() -> str:
    """The reference as Markdown."""
    out = [
        "# Configuration reference",
        "",
        "Generated from the configuration classes by `docs/config_reference.py`;",
        "do not edit by hand.",
        "All classes are frozen keyword-only dataclasses, validated at construction",
        "(`ConfigurationError` names the field); secrets are masked in `repr`.",
        "",
    ]
    for cls, section in SECTIONS:
        docs = _attribute_docs(cls)
        out += [
            f"## `{cls.__name__}` — YAML {section}",
            "",
            (inspect.getdoc(cls) or "").splitlines()[0],
            "",
        ]
        out += ["| field | default | librdkafka / client | meaning |", "|---|---|---|---|"]
        for field in dataclasses.fields(cls):
            if not field.init or field.name == "security_mechanism":
                continue
            mapping = LIBRDKAFKA.get((cls, field.name), "")
            meaning = docs.get(field.name, "").replace("``", "`").replace("|", "\\|")
            out.append(f"| `{field.name}` | {_default(field)} | {mapping} | {meaning} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
