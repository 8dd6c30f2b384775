"""Serde benchmark: EventSerde vs raw fastavro on a typical RequestEvent (200-byte payload).

Run: ``uv run python benchmarks/serdes.py [--quick]``

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


def typical_event() -> RequestEvent:
    return RequestEvent(
        message_id="6f1c2a9e4b7d4e0f9a3c5b2d1e8f7a6b",
        kind="rpc_request",
        payload=os.urandom(200),
        type_name="autogen_agentchat.messages.TextMessage",
        data_content_type="application/json",
        recipient=AgentRef(type="assistant", key="default"),
        sender=AgentRef(type="user_proxy", key="default"),
        reply_to="akx.responses.worker-7f3a",
        time=datetime.now(timezone.utc),
        metadata={"cancellation": "false"},
    )


def measure(steps: list[Callable[[], Any]], number: int, rounds: int) -> list[float]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description="EventSerde vs raw fastavro")
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args()
    number, rounds = (1_000, 5) if args.quick else (5_000, 25)

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
        ("raw fastavro (dict, no framing)", raw_encode, raw_decode),
        (
            "EventSerde (event, wire format, CE headers)",
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
    times = measure([*steps, sdk_headers, our_headers], number, rounds)
    results = [(name, times[2 * i], times[2 * i + 1]) for i, (name, _, _) in enumerate(rows)]
    sdk, ours = times[-2], times[-1]

    raw_total = results[0][1] + results[0][2]
    print(
        f"RequestEvent, {len(event.payload)}-byte payload; value {len(value)} bytes, "
        f"{len(headers)} headers; best of {rounds} rounds x {number} calls"
    )
    print()
    print(
        f"| {'path':<46} | {'encode µs':>9} | {'decode µs':>9} | {'total µs':>8} | {'vs raw':>6} |"
    )
    print(f"|{'-' * 48}|{'-' * 11}|{'-' * 11}|{'-' * 10}|{'-' * 8}|")
    for name, enc, dec in results:
        total = enc + dec
        ratio = total / raw_total
        print(f"| {name:<46} | {enc:>9.2f} | {dec:>9.2f} | {total:>8.2f} | {ratio:>5.2f}x |")
    print()
    print(
        f"headers only, round trip: cloudevents SDK binding {sdk:.2f} µs, "
        f"EventSerde {ours:.2f} µs ({sdk / ours:.1f}x slower with the SDK)"
    )
    ratio = (results[1][1] + results[1][2]) / raw_total
    print()
    print(f"EventSerde / raw fastavro = {ratio:.2f}x (target <= 2.0x)")


if __name__ == "__main__":
    main()
