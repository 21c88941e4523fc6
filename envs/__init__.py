"""envs package (see docs/ARCHITECTURE.md)."""
