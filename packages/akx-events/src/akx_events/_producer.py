"""An asyncio front end for librdkafka's producer.

``Producer.produce`` only appends to librdkafka's in-memory queue, so it is called on
the event loop; everything that can wait (delivery reports, flush, close) runs on a
thread of its own. Each produced record gets an asyncio future that completes when
the broker acknowledged it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from .exceptions import AkxError, BrokerUnavailableError, KafkaTransportError

__all__ = ["AsyncProducer", "Headers"]

logger = logging.getLogger(__name__)

#: Kafka record headers as librdkafka takes and returns them.
Headers = Sequence[tuple[str, bytes | None]]

_POLL_SECONDS = 0.05


def transport_error(error: KafkaError, what: str) -> KafkaTransportError:
    """Turn a librdkafka error into the akx error a caller can act on."""
    if error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):  # pyright: ignore[reportPrivateUsage]
        return BrokerUnavailableError(f"{what}: {error.str()}")
    return KafkaTransportError(f"{what}: {error.str()}", retriable=bool(error.retriable()))


class AsyncProducer:
    """Produce records from asyncio code and await their acknowledgement.

    Args:
        config: librdkafka producer settings (see ``KafkaConfig.producer_config``).
        name: a name for log lines and the delivery thread.
    """

    def __init__(self, config: dict[str, Any], *, name: str = "akx-producer") -> None:
        self._config = dict(config)
        self._name = name
        self._producer: Producer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._closed = False

    @property
    def started(self) -> bool:
        """Whether :meth:`start` ran and :meth:`stop` did not."""
        return self._producer is not None

    async def start(self) -> None:
        """Create the producer and its delivery thread."""
        if self._closed:
            raise AkxError(f"{self._name} was stopped and cannot be started again")
        if self._producer is not None:
            return
        self._loop = asyncio.get_running_loop()
        config = dict(self._config)
        config.setdefault("error_cb", self._on_error)
        self._producer = Producer(config)
        self._running.set()
        self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        self._thread.start()

    def _on_error(self, error: KafkaError) -> None:
        logger.warning("%s: %s", self._name, error.str())

    def _serve(self) -> None:
        producer = self._producer
        assert producer is not None
        while self._running.is_set():
            producer.poll(_POLL_SECONDS)

    def produce(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[Message]:
        """Queue a record; the returned future completes when the broker acknowledged it.

        Raises:
            AkxError: the producer is not started.
            KafkaTransportError: librdkafka refused the record (e.g. its queue is full).
        """
        producer, loop = self._producer, self._loop
        if producer is None or loop is None:
            raise AkxError(f"{self._name} is not started")
        future: asyncio.Future[Message] = loop.create_future()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            loop.call_soon_threadsafe(_settle, future, error, message, topic)

        kwargs: dict[str, Any] = {"value": value, "key": key, "on_delivery": on_delivery}
        if headers:
            kwargs["headers"] = list(headers)
        if partition is not None:
            kwargs["partition"] = partition
        try:
            producer.produce(topic, **kwargs)
        except BufferError as exc:
            raise KafkaTransportError(
                f"{self._name}: local queue full producing to {topic!r}", retriable=True
            ) from exc
        except Exception as exc:  # KafkaException, TypeError from bad arguments
            raise KafkaTransportError(f"{self._name}: cannot produce to {topic!r}: {exc}") from exc
        return future

    async def send(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> Message:
        """Produce a record and wait for its acknowledgement, waiting out a full queue."""
        while True:
            try:
                future = self.produce(topic, value, key=key, headers=headers, partition=partition)
            except KafkaTransportError as exc:
                if not exc.retriable:
                    raise
                await asyncio.sleep(0.005)
                continue
            return await future

    async def flush(self, timeout: float = 10.0) -> int:
        """Wait until queued records are delivered; returns how many are still queued."""
        producer = self._producer
        if producer is None:
            return 0
        return await asyncio.to_thread(producer.flush, timeout)

    async def stop(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop. Idempotent."""
        if self._closed:
            return
        self._closed = True
        producer, self._producer = self._producer, None
        if producer is None:
            return
        remaining = await asyncio.to_thread(producer.flush, timeout)
        if remaining:
            logger.warning("%s stopped with %d undelivered records", self._name, remaining)
        self._running.clear()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join)
        # Fail what could not be delivered instead of leaving its future pending.
        with contextlib.suppress(Exception):
            producer.purge()
            producer.poll(0)


def _settle(
    future: asyncio.Future[Message], error: KafkaError | None, message: Message, topic: str
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(transport_error(error, f"delivery to {topic!r} failed"))
    else:
        future.set_result(message)
