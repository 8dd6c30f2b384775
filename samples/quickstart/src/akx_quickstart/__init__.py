"""Quickstart sample."""

def main() -> None:
    """Run the demo."""
