"""autogen-kafka-extension."""

__all__: list[str] = []
