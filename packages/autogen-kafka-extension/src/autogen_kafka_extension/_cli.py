"""``akx``: look into a running akx system without reading raw Avro.

    akx agents                       registered agent types and the workers hosting them
    akx subscriptions                subscriptions, by agent type
    akx tail TOPIC [--follow]        events decoded to readable lines or JSON
    akx dlq list TOPIC               dead letters with their errors
    akx dlq replay TOPIC             send dead letters back to where they came from
    akx topics create                create the runtime's topics

Every command takes ``--config file.yml`` (the runtime's YAML) or ``--bootstrap-servers``
and ``--schema-registry-url``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any, cast

from confluent_kafka import Message, Producer

from akx_events import (
    AkxError,
    EventSerde,
    KafkaConfig,
    RegistrationEvent,
    SchemaRegistryConfig,
    SubscriptionEvent,
    ensure_topics_sync,
)
from akx_runtime import KafkaAgentRuntimeConfig, load_runtime_config
from akx_runtime._topics import TopicLayout

from ._topic_reader import read_topic

__all__ = ["main", "run"]

_DLQ_PREFIX = "dlq-"


def _settings(args: argparse.Namespace) -> KafkaAgentRuntimeConfig:
    if args.config:
        return load_runtime_config(args.config)
    if not args.bootstrap_servers:
        raise SystemExit("akx: give --config FILE or --bootstrap-servers HOST:PORT")
    registry = (
        SchemaRegistryConfig(url=args.schema_registry_url, auto_register_schemas=False)
        if args.schema_registry_url
        else None
    )
    kafka = KafkaConfig(
        name="akx-cli",
        group_id="akx-cli",
        client_id="akx-cli",
        bootstrap_servers=args.bootstrap_servers,
        schema_registry_config=registry,
    )
    return KafkaAgentRuntimeConfig(
        kafka_config=kafka,
        request_topic=args.request_topic,
        response_topic=args.response_topic,
        registry_topic=args.registry_topic,
        subscription_topic=args.subscription_topic,
        publish_topic=args.publish_topic,
    )


def _serde(config: KafkaAgentRuntimeConfig) -> EventSerde:
    registry = config.kafka_config.schema_registry_config
    if registry is None:
        raise SystemExit(
            "akx: this command needs --schema-registry-url (or schema_registry: in the YAML)"
        )
    # Read-only: never register anything from the command line.
    serde = EventSerde(registry, auto_register_schemas=False, use_latest_version=True)
    serde.prepare_sync()
    return serde


def _events(
    config: KafkaAgentRuntimeConfig, topic: str, **read: Any
) -> Iterable[tuple[Message, Any]]:
    records = read_topic(config.kafka_config.client_config(), topic, **read)
    first = next(records, None)  # fails first on an unreachable broker or a missing topic
    serde = _serde(config)
    for message in itertools.chain([first] if first is not None else [], records):
        headers = cast("list[tuple[str, bytes | None]] | None", message.headers())
        try:
            yield message, serde.decode(message.value(), headers)
        except AkxError as exc:
            yield message, exc


def _cmd_agents(args: argparse.Namespace) -> int:
    config = _settings(args)
    hosts: dict[str, set[str]] = {}
    for _message, event in _events(config, config.registry_topic):
        if isinstance(event, RegistrationEvent):
            workers = hosts.setdefault(event.agent_type, set())
            if event.action == "register":
                workers.add(event.worker_id)
            else:
                workers.discard(event.worker_id)
    live = {t: sorted(w) for t, w in sorted(hosts.items()) if w}
    if args.json:
        print(json.dumps(live, indent=2))
    elif not live:
        print("no agent types are registered")
    else:
        width = max(len(t) for t in live)
        for agent_type, workers in live.items():
            print(f"{agent_type:<{width}}  {len(workers)} worker(s): {', '.join(workers)}")
    return 0


def _cmd_subscriptions(args: argparse.Namespace) -> int:
    config = _settings(args)
    table: dict[tuple[str, str], SubscriptionEvent] = {}
    for _message, event in _events(config, config.subscription_topic):
        if isinstance(event, SubscriptionEvent):
            key = (event.subscription_id, event.worker_id)
            if event.action == "add":
                table[key] = event
            else:
                table.pop(key, None)
    rows = sorted(table.values(), key=lambda e: (e.agent_type, e.kind, e.topic_type))
    if args.json:
        print(json.dumps([_plain(asdict(e)) for e in rows], indent=2))
    elif not rows:
        print("no subscriptions")
    for event in [] if args.json else rows:
        target = event.agent_type or "(custom)"
        origin = f"[{event.subscription_id} @ {event.worker_id}]"
        print(f"{event.kind:<12} {event.topic_type!r:<30} -> {target}  {origin}")
    return 0


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in cast("dict[str, Any]", value).items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in cast("list[Any]", value)]
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value.hex()
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _describe(message: Message, event: Any) -> dict[str, Any]:
    where = {"topic": message.topic(), "partition": message.partition(), "offset": message.offset()}
    if isinstance(event, Exception):
        return {**where, "error": f"{type(event).__name__}: {event}"}
    body = (
        _plain(asdict(event))
        if is_dataclass(event) and not isinstance(event, type)
        else repr(event)
    )
    return {**where, "type": type(event).__name__, "event": body}


def _cmd_tail(args: argparse.Namespace) -> int:
    config = _settings(args)
    records = _events(config, args.topic, follow=args.follow, from_beginning=not args.new_only)
    for shown, (message, event) in enumerate(records, start=1):
        row = _describe(message, event)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            body = row.get("event", row.get("error"))
            where = f"{row['topic']}[{row['partition']}]@{row['offset']}"
            print(f"{where} {row.get('type', 'unreadable')}: {body}", flush=True)
        if args.max and shown >= args.max:
            break
    return 0


def _dlq_headers(message: Message) -> dict[str, str]:
    found: dict[str, str] = {}
    headers = cast("list[tuple[str, bytes | None]]", message.headers() or [])
    for name, value in headers:
        if name.startswith(_DLQ_PREFIX) or "error" in name:
            found[name] = (value or b"").decode(errors="replace")
    return found


def _cmd_dlq(args: argparse.Namespace) -> int:
    config = _settings(args)
    client = config.kafka_config.client_config()
    letters = list(read_topic(client, args.topic))
    if args.action == "list":
        for message in letters:
            row = {
                "offset": message.offset(),
                "key": _plain(message.key()),
                **_dlq_headers(message),
            }
            print(json.dumps(row) if args.json else " ".join(f"{k}={v}" for k, v in row.items()))
        if not letters and not args.json:
            print(f"no dead letters on {args.topic}")
        return 0
    producer = Producer(config.kafka_config.producer_config())
    replayed = 0
    for message in letters:
        headers = _dlq_headers(message)
        target = args.to or headers.get("dlq-source-topic")
        if not target:
            print(
                f"offset {message.offset()}: no dlq-source-topic header; use --to", file=sys.stderr
            )
            continue
        kept = [(k, v) for k, v in message.headers() or [] if not k.startswith(_DLQ_PREFIX)]
        where: dict[str, Any] = {}
        source_partition = headers.get("dlq-source-partition", "")
        if not args.to and source_partition.isdigit():
            # Back to the partition it came from: a memory session or an agent's requests
            # are ordered within one partition, which the key alone may not pick.
            where["partition"] = int(source_partition)
        producer.produce(target, message.value(), key=message.key(), headers=kept, **where)
        replayed += 1
    if producer.flush(30):
        raise SystemExit(
            "akx: some dead letters could not be replayed (broker did not acknowledge)"
        )
    print(f"replayed {replayed} of {len(letters)} dead letters")
    return 0


def _cmd_topics(args: argparse.Namespace) -> int:
    config = _settings(args)
    kafka = config.kafka_config
    # The runtime's own naming and creation rules, so the CLI makes exactly its topics.
    layout = TopicLayout(config)
    specs = [*layout.shared_specs(), *(s for t in args.agent_type for s in layout.type_specs(t))]
    ensure_topics_sync(kafka.client_config(), specs)
    for spec in specs:
        print(f"{spec.name}  partitions={spec.partitions} replication={spec.replication_factor}")
    return 0


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="the runtime's YAML file (kafka: and runtime: sections)")
    common.add_argument("--bootstrap-servers", help="host:port[,host:port...]")
    common.add_argument("--schema-registry-url", help="http(s)://host:port")
    common.add_argument("--json", action="store_true", help="JSON output")
    for name, default in (
        ("request-topic", "agent-requests"),
        ("response-topic", "agent-responses"),
        ("registry-topic", "agent-registry"),
        ("subscription-topic", "agent-subscriptions"),
        ("publish-topic", "agent-publish"),
    ):
        common.add_argument(
            f"--{name}", default=default, help=f"without --config (default {default})"
        )
    parser = argparse.ArgumentParser(prog="akx", description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "agents", parents=[common], help="registered agent types and their workers"
    ).set_defaults(run=_cmd_agents)
    commands.add_parser("subscriptions", parents=[common], help="subscriptions").set_defaults(
        run=_cmd_subscriptions
    )
    tail = commands.add_parser("tail", parents=[common], help="decoded events of a topic")
    tail.add_argument("topic")
    tail.add_argument("--follow", "-f", action="store_true", help="keep reading new events")
    tail.add_argument("--new-only", action="store_true", help="start at the end")
    tail.add_argument("--max", type=int, default=0, help="stop after this many")
    tail.set_defaults(run=_cmd_tail)
    dlq = commands.add_parser("dlq", help="dead letters")
    dlq_commands = dlq.add_subparsers(dest="action", required=True)
    dlq_commands.add_parser("list", parents=[common], help="list dead letters").add_argument(
        "topic"
    )
    replay = dlq_commands.add_parser("replay", parents=[common], help="produce them again")
    replay.add_argument("topic")
    replay.add_argument("--to", help="target topic (default: the dlq-source-topic header)")
    dlq.set_defaults(run=_cmd_dlq)
    topics = commands.add_parser("topics", help="topic administration")
    topic_commands = topics.add_subparsers(dest="action", required=True)
    create = topic_commands.add_parser(
        "create", parents=[common], help="create the runtime's topics"
    )
    create.add_argument(
        "--agent-type", action="append", default=[], help="also its request topic (repeatable)"
    )
    topics.set_defaults(run=_cmd_topics)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``akx``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except AkxError as exc:
        print(f"akx: {exc}", file=sys.stderr)
        return 1


def run() -> None:
    """Console script."""
    sys.exit(main())
