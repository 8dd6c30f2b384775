"""Message types and agents of the sentiment sample."""
