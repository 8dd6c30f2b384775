"""Kafka-backed storage for the development Schema Registry.

The registry's state lives in one topic (partition 0), like Confluent's ``_schemas``.
At start a reader thread reads the topic from the beginning into the in-memory
:class:`RegistryState`, then keeps tailing it, so two registries on one topic see
each other's changes (within one fetch wait). A writer produces its records, waits
for the broker's acknowledgement and applies them itself at once: an answer never
waits for the reader's next fetch, which lets that fetch wait be long (100 ms) and
the idle broker quiet. The reader skips the records its own writer applied.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any, cast

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from ._registry_state import Record, RegistryState, decode_record, encode
from .exceptions import RegistryStartError

__all__ = ["RegistryStore", "StoreError"]

_log = logging.getLogger("akx_dev.registry")
# How long the reader blocks in poll(): bounds how long stop() waits for it.
_POLL_SECONDS = 0.05


class StoreError(Exception):
    """Raised when a change could not be written to (or read back from) the topic."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class RegistryStore:
    """The registry state, kept in and rebuilt from a Kafka topic."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic: str,
        consumer_settings: Mapping[str, Any],
        producer_settings: Mapping[str, Any],
        timeout: float,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._timeout = timeout
        self._consumer_settings = {
            **consumer_settings,
            # Fixed: only other registries' changes wait for it, and shorter waits
            # cost the embedded broker several % CPU while idle (it does not wake
            # waiting fetches when data arrives).
            "fetch.wait.max.ms": 100,
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"akx-dev-registry-{uuid.uuid4().hex}",  # required even with assign()
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
        self._producer_settings = {
            "acks": "all",
            # Keeps a write's records in order through retries. (The idempotent
            # producer would too, but its first write costs ~1 s on the embedded broker.)
            "max.in.flight.requests.per.connection": 1,
            "linger.ms": 0,
            "message.timeout.ms": int(timeout * 1000),
            **producer_settings,
            "bootstrap.servers": bootstrap_servers,
        }
        self._state = RegistryState()
        # One lock guards the state; the reader notifies open() of its progress.
        self._changed = threading.Condition()
        # Writers are serialized so each validates against the state its write follows.
        self._write_mutex = threading.Lock()
        self._applied = 0  # the next offset the reader will read
        self._own: set[int] = set()  # offsets the writer applied, for the reader to skip
        self._closing = threading.Event()
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._reader: threading.Thread | None = None

    def open(self) -> None:
        """Create the topic if missing and read it to the end.

        Raises:
            RegistryStartError: the cluster did not answer or the topic could not
                be read within the timeout.
        """
        deadline = time.monotonic() + self._timeout
        try:
            self._ensure_topic()
            consumer = Consumer(self._consumer_settings, logger=_log)
            self._consumer = consumer
            consumer.list_topics(self._topic, timeout=self._timeout)
            partition = TopicPartition(self._topic, 0)
            _, end = consumer.get_watermark_offsets(partition, timeout=self._timeout)
            consumer.assign([TopicPartition(self._topic, 0, OFFSET_BEGINNING)])
            self._producer = Producer(self._producer_settings, logger=_log)
        except (KafkaException, FutureTimeoutError) as exc:
            raise RegistryStartError(
                f"the Schema Registry cannot use Kafka at {self._bootstrap!r}: {exc}"
            ) from exc
        self._reader = threading.Thread(target=self._read, name="akx-registry-reader", daemon=True)
        self._reader.start()
        remaining = max(0.0, deadline - time.monotonic())
        with self._changed:
            if not self._changed.wait_for(lambda: self._applied >= end, remaining):
                raise RegistryStartError(
                    f"the Schema Registry could not read topic {self._topic!r} at "
                    f"{self._bootstrap!r} within {self._timeout} s"
                )

    def _ensure_topic(self) -> None:
        admin = AdminClient({"bootstrap.servers": self._bootstrap}, logger=_log)
        try:
            metadata = admin.list_topics(timeout=self._timeout)
        except KafkaException as exc:
            raise RegistryStartError(
                f"the Schema Registry cannot reach Kafka at {self._bootstrap!r} "
                f"within {self._timeout} s: {exc}"
            ) from exc
        if self._topic in metadata.topics:
            return
        # One partition keeps a single order of changes; compaction keeps the
        # latest state of each key (on brokers that compact).
        new = NewTopic(self._topic, 1, -1, config={"cleanup.policy": "compact"})
        futures = cast(
            "dict[str, Future[None]]",
            admin.create_topics([new], operation_timeout=self._timeout),  # pyright: ignore[reportUnknownMemberType]
        )
        future = futures[self._topic]
        try:
            future.result(timeout=self._timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def _read(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self._closing.is_set():
            message = consumer.poll(_POLL_SECONDS)
            if message is not None:
                self._apply(message)

    def _apply(self, message: Message) -> None:
        error = message.error()
        offset = message.offset() or 0
        if error is not None and error.code() != KafkaError._PARTITION_EOF:  # pyright: ignore[reportPrivateUsage]
            _log.warning("Schema Registry reader: %s", error)
            return
        with self._changed:
            if error is None and offset in self._own:
                self._own.discard(offset)
            elif error is None:
                # Our records are never null, but a null or foreign one just moves us on.
                record = decode_record(message.key(), message.value())
                try:
                    if record is not None:
                        self._state.apply(*record)
                except (KeyError, TypeError, ValueError):
                    _log.warning("Schema Registry reader skipped a malformed record at %d", offset)
            if error is None:
                offset += 1
            # At the end of the partition, the offset is where the next record goes:
            # everything before it has been read, even records the broker did not deliver.
            self._applied = max(self._applied, offset)
            self._changed.notify_all()

    @contextlib.contextmanager
    def reading(self) -> Generator[RegistryState, None, None]:
        """Hold the state lock to read the state."""
        with self._changed:
            yield self._state

    @contextlib.contextmanager
    def writing(self) -> Generator[RegistryState, None, None]:
        """Hold the writer mutex and the state lock to check the state, then :meth:`append`."""
        with self._write_mutex, self._changed:
            yield self._state

    def append(self, records: Sequence[Record]) -> None:
        """Write records, wait for the broker's acknowledgement, then apply them.

        Call inside :meth:`writing`.

        Raises:
            StoreError: the broker did not acknowledge every record within the timeout.
        """
        producer = self._producer
        if producer is None:
            raise StoreError("the Schema Registry is stopped")
        failures: list[str] = []
        offsets: list[int] = []

        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failures.append(str(error))
            else:
                offsets.append(message.offset() or 0)

        for key, value in records:
            producer.produce(
                self._topic,
                key=encode(key),
                value=encode(value),
                partition=0,
                on_delivery=delivered,
            )
        if producer.flush(self._timeout):
            raise StoreError(f"writing to topic {self._topic!r} timed out", timed_out=True)
        if failures:
            raise StoreError(f"writing to topic {self._topic!r} failed: {failures}")
        # The reader is blocked on the lock we hold, so it cannot see these offsets
        # before they are in _own.
        for key, value in records:
            self._state.apply(key, value)
        self._own.update(offset for offset in offsets if offset >= self._applied)

    def close(self) -> None:
        """Stop the reader and close the Kafka clients. Idempotent."""
        self._closing.set()
        if self._reader is not None:
            self._reader.join()
            self._reader = None
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        if self._producer is not None:
            self._producer.flush(self._timeout)
            self._producer = None
