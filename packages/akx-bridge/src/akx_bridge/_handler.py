"""Request handlers of a :class:`RequestProcessor` and the types they take and return."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._message_type import check_message_type

__all__ = ["Handler", "handler_types"]

Req = TypeVar("Req")
Resp = TypeVar("Resp")

#: An async function turning one request into its response.
Handler = Callable[[Req], Awaitable[Resp]]


def _annotations(handler: Callable[..., Any]) -> tuple[Any, Any]:
    target: Any = handler
    if not (inspect.isfunction(handler) or inspect.ismethod(handler)):
        target = getattr(handler, "__call__", handler)  # noqa: B004 - callable objects
    try:
        hints = typing.get_type_hints(target)
        parameters = list(inspect.signature(target).parameters.values())
    except (NameError, TypeError, ValueError):
        return None, None
    first = hints.get(parameters[0].name) if parameters else None
    return first, hints.get("return")


def handler_types(
    handler: Callable[..., Any], request_type: Any, response_type: Any
) -> tuple[Any, Any]:
    """The request and response types of ``handler``: given, or read from its annotations.

    Raises:
        TypeError: ``handler`` is not callable, or a type is neither given nor
            annotated as a ``@dataclass`` subclass of ``KafkaMessageType`` (the message
            names the missing argument).
    """
    if not callable(handler):
        raise TypeError(f"handler must be an async function, got {type(handler).__name__}")
    if request_type is None or response_type is None:
        annotated_request, annotated_response = _annotations(handler)
        request_type = request_type or annotated_request
        response_type = response_type or annotated_response
    for name, value in (("request_type", request_type), ("response_type", response_type)):
        if value is None:
            raise TypeError(
                f"{name} is required: pass it, or annotate the handler "
                "(async def handle(request: MyRequest) -> MyResponse)"
            )
        check_message_type(name, value)
    return request_type, response_type
