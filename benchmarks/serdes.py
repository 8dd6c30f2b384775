"""Serde benchmark: EventSerde vs raw fastavro on a typical RequestEvent (200-byte payload).

Run: ``uv run python benchmarks/serdes.py [--quick]`` (or ``python -m benchmarks serdes``)

Every row encodes and decodes the same RequestEvent, in the same process and run:

- raw fastavro: ``schemaless_writer`` + ``schemaless_reader`` of the record dict with
  the parsed schema. No framing, no headers, no objects: the floor.
- EventSerde: event object -> (value, CloudEvents headers) -> event object.
- confluent AvroSerializer/AvroDeserializer (mock registry, RecordNameStrategy): the
  value only, dict in and dict out; what akx would use without its own serde.
- cloudevents SDK headers: only the header work, done with the SDK's Kafka binding
  (CloudEvent + to_binary / from_binary), next to the same work done by EventSerde.

The ratio printed last is EventSerde over raw fastavro (target: <= 2.0).
"""

from __future__ import annotations

import argparse
import io
import os
import timeit
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import fastavro
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent
from confluent_kafka.schema_registry import (
    SchemaRegistryClient,
    record_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from akx_events import (
    AgentRef,
    EventSerde,
    RequestEvent,
    SchemaRegistryConfig,
    event_schema,
    to_avro_record,
)
from akx_events._headers import HeaderWriter, check_headers
from akx_events._schema_cache import schema_json

TOPIC = "akx.requests.assistant"
RAW = "raw fastavro (dict, no framing)"
SERDE = "EventSerde (event, wire format, CE headers)"


def typical_event(size: int = 200) -> RequestEvent:
    return RequestEvent(
        message_id="6f1c2a9e4b7d4e0f9a3c5b2d1e8f7a6b",
        kind="rpc_request",
        payload=os.urandom(size),
        type_name="autogen_agentchat.messages.TextMessage",
        data_content_type="application/json",
        recipient=AgentRef(type="assistant", key="default"),
        sender=AgentRef(type="user_proxy", key="default"),
        reply_to="akx.responses.worker-7f3a",
        time=datetime.now(timezone.utc),
        metadata={"cancellation": "false"},
    )


def measure_steps(steps: list[Callable[[], Any]], number: int, rounds: int) -> list[float]:
    """Microseconds per call of each step: the best of ``rounds`` runs of ``number`` calls.

    The steps take turns within every round, so a machine busy with other work slows
    them all alike; the minimum is the run least disturbed by that work.
    """
    best = [float("inf")] * len(steps)
    for _ in range(rounds):
        for i, step in enumerate(steps):
            best[i] = min(best[i], timeit.timeit(step, number=number) / number * 1e6)
    return best


class _Identity:
    """A cloudevents Format that leaves data bytes alone (the value is Avro already)."""

    def write_data(self, data: Any, datacontenttype: str | None) -> bytes:
        return data

    def read_data(self, body: bytes, datacontenttype: str | None) -> Any:
        return body


def by_payload(number: int, rounds: int, sizes: tuple[int, ...]) -> dict[str, Any]:
    """EventSerde and raw fastavro encode+decode (µs) as the payload grows."""
    serde = EventSerde(SchemaRegistryConfig(url="mock://benchmark-sizes"))
    serde.prepare_sync()
    parsed = fastavro.parse_schema(event_schema(RequestEvent))
    rows: dict[str, Any] = {}
    for size in sizes:
        event = typical_event(size)
        record = to_avro_record(event)
        value, headers = serde.encode(event, topic=TOPIC)
        stream = io.BytesIO()
        fastavro.schemaless_writer(stream, parsed, record)
        raw_value = stream.getvalue()

        def raw_round_trip(record: Any = record, raw_value: bytes = raw_value) -> None:
            fastavro.schemaless_writer(io.BytesIO(), parsed, record)
            fastavro.schemaless_reader(io.BytesIO(raw_value), parsed, None)

        def serde_round_trip(
            event: RequestEvent = event, value: bytes = value, headers: Any = headers
        ) -> None:
            serde.encode(event, topic=TOPIC)
            serde.decode(value, headers)

        raw_us, serde_us = measure_steps([raw_round_trip, serde_round_trip], number, rounds)
        rows[str(size)] = {"raw_us": raw_us, "serde_us": serde_us, "ratio": serde_us / raw_us}
    return rows


def measure(number: int, rounds: int) -> dict[str, Any]:
    """Microseconds per encode and decode of each path, and EventSerde's ratio to raw."""
    event = typical_event()
    schema = event_schema(RequestEvent)
    parsed = fastavro.parse_schema(schema)
    record = to_avro_record(event)

    # Raw fastavro: the floor.
    def raw_encode() -> bytes:
        stream = io.BytesIO()
        fastavro.schemaless_writer(stream, parsed, record)
        return stream.getvalue()

    raw_value = raw_encode()

    def raw_decode() -> Any:
        return fastavro.schemaless_reader(io.BytesIO(raw_value), parsed, None)

    # EventSerde.
    serde = EventSerde(SchemaRegistryConfig(url="mock://benchmark"))
    serde.prepare_sync()
    value, headers = serde.encode(event, topic=TOPIC)
    assert serde.decode(value, headers) == event

    # confluent-kafka's own Avro serdes.
    client = SchemaRegistryClient.new_client({"url": "mock://benchmark-confluent"})
    conf = {"subject.name.strategy": record_subject_name_strategy}
    # AvroSerializer assigns __init__ indirectly, which hides its parameters from pyright.
    serializer = AvroSerializer(client, schema_json(schema), conf=conf)  # pyright: ignore[reportCallIssue]
    deserializer = AvroDeserializer(client, schema_json(schema))  # pyright: ignore[reportCallIssue]
    ctx = SerializationContext(TOPIC, MessageField.VALUE)
    confluent_value = serializer(record, ctx)
    assert confluent_value is not None
    assert deserializer(confluent_value, ctx) == record

    # Headers alone: the cloudevents SDK binding vs ours.
    writer = HeaderWriter("akx")
    ce_type = b"io.akx.events.RequestEvent"
    identity = _Identity()

    def sdk_headers() -> Any:
        attributes = {
            "id": event.message_id,
            "source": "akx",
            "type": "io.akx.events.RequestEvent",
            "time": event.time,
            "datacontenttype": "application/avro",
            "agmsgkind": "rpc_request",
            "agagentsendertype": "user_proxy",
            "agagentsenderkey": "default",
        }
        message = ce_kafka.to_binary(CloudEvent(attributes, value), identity)  # pyright: ignore[reportArgumentType]
        return ce_kafka.from_binary(message, identity)  # pyright: ignore[reportArgumentType]

    def our_headers() -> None:
        check_headers(writer.headers(event), ce_type)

    rows = [
        (RAW, raw_encode, raw_decode),
        (
            SERDE,
            lambda: serde.encode(event, topic=TOPIC),
            lambda: serde.decode(value, headers),
        ),
        (
            "confluent AvroSerializer/Deserializer (dict)",
            lambda: serializer(record, ctx),
            lambda: deserializer(confluent_value, ctx),
        ),
    ]
    steps = [step for _, encode, decode in rows for step in (encode, decode)]
    times = measure_steps([*steps, sdk_headers, our_headers], number, rounds)
    paths = {
        name: {"encode_us": times[2 * i], "decode_us": times[2 * i + 1]}
        for i, (name, _, _) in enumerate(rows)
    }
    for row in paths.values():
        row["total_us"] = row["encode_us"] + row["decode_us"]
    return {
        "payload_bytes": len(event.payload),
        "value_bytes": len(value),
        "headers": len(headers),
        "number": number,
        "rounds": rounds,
        "paths": paths,
        "headers_only_us": {"cloudevents_sdk": times[-2], "event_serde": times[-1]},
        "ratio": paths[SERDE]["total_us"] / paths[RAW]["total_us"],
        "by_payload_bytes": by_payload(
            max(50, number // 5), max(2, rounds // 2), (200, 2_000, 20_000, 200_000)
        ),
    }


def report(results: dict[str, Any]) -> None:
    paths = results["paths"]
    raw_total = paths[RAW]["total_us"]
    print(
        f"RequestEvent, {results['payload_bytes']}-byte payload; value {results['value_bytes']} "
        f"bytes, {results['headers']} headers; best of {results['rounds']} rounds x "
        f"{results['number']} calls"
    )
    print()
    print(
        f"| {'path':<46} | {'encode µs':>9} | {'decode µs':>9} | {'total µs':>8} | {'vs raw':>6} |"
    )
    print(f"|{'-' * 48}|{'-' * 11}|{'-' * 11}|{'-' * 10}|{'-' * 8}|")
    for name, row in paths.items():
        print(
            f"| {name:<46} | {row['encode_us']:>9.2f} | {row['decode_us']:>9.2f} "
            f"| {row['total_us']:>8.2f} | {row['total_us'] / raw_total:>5.2f}x |"
        )
    sdk, ours = (
        results["headers_only_us"]["cloudevents_sdk"],
        results["headers_only_us"]["event_serde"],
    )
    print()
    print(
        f"headers only, round trip: cloudevents SDK binding {sdk:.2f} µs, "
        f"EventSerde {ours:.2f} µs ({sdk / ours:.1f}x slower with the SDK)"
    )
    print()
    print(f"EventSerde / raw fastavro = {results['ratio']:.2f}x (target <= 2.0x)")


def main() -> None:
    parser = argparse.ArgumentParser(description="EventSerde vs raw fastavro")
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args()
    number, rounds = (1_000, 5) if args.quick else (5_000, 25)
    report(measure(number, rounds))


if __name__ == "__main__":
    main()
