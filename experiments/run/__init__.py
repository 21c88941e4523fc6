"""The run lifecycle every trainer shares (see docs/ARCHITECTURE.md)."""
