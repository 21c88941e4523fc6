"""experiments package (see docs/ARCHITECTURE.md)."""
