"""The text of a model context's last message, as the query for ``update_context``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from autogen_core.models import FunctionExecutionResultMessage, LLMMessage

__all__ = ["last_message_text"]


def last_message_text(messages: Sequence[LLMMessage]) -> str:
    """The text parts of the last message joined by spaces; ``""`` without messages.

    Images and function calls carry no text to search with and are left out.
    """
    if not messages:
        return ""
    message = messages[-1]
    if isinstance(message, FunctionExecutionResultMessage):
        return " ".join(result.content for result in message.content)
    content = cast("Any", message.content)
    if isinstance(content, str):
        return content
    return " ".join(part for part in cast("list[Any]", content) if isinstance(part, str))
