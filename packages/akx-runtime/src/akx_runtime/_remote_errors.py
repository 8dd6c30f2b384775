"""Exceptions that cross processes: described by the handler, rebuilt by the caller."""

from __future__ import annotations

import sys
import traceback

from akx_events import ErrorInfo

from .exceptions import RemoteHandlerError

__all__ = ["describe", "rebuild"]


def describe(exc: BaseException) -> ErrorInfo:
    """What the caller needs to know about a handler's exception."""
    cls = type(exc)
    return ErrorInfo(
        exception_type=f"{cls.__module__}.{cls.__qualname__}",
        message=str(exc),
        traceback="".join(traceback.format_exception(cls, exc, exc.__traceback__)),
    )


def _find_class(qualified: str) -> type[BaseException] | None:
    # Only classes of modules already imported here: a message never makes us import.
    parts = qualified.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:split]))
        if module is None:
            continue
        found: object = module
        for name in parts[split:]:
            found = getattr(found, name, None)
        if isinstance(found, type) and issubclass(found, BaseException):
            return found
        return None
    return None


def rebuild(error: ErrorInfo) -> BaseException:
    """The caller-side exception: the same type where importable, else RemoteHandlerError.

    The remote traceback is attached as ``remote_traceback`` (and as a note on 3.11+).
    """
    cls = _find_class(error.exception_type)
    rebuilt: BaseException
    if cls is None:
        rebuilt = RemoteHandlerError(error.exception_type, error.message, error.traceback)
    else:
        try:
            rebuilt = cls(error.message)
        except Exception:
            rebuilt = RemoteHandlerError(error.exception_type, error.message, error.traceback)
    rebuilt.remote_traceback = error.traceback  # type: ignore[attr-defined]
    if error.traceback and sys.version_info >= (3, 11):
        rebuilt.add_note(f"Remote traceback:\n{error.traceback}")
    return rebuilt
