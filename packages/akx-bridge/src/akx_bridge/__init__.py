"""akx-bridge."""

__all__: list[str] = []
