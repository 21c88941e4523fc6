"""rlssm: memory cores, world models and shared network pieces for reinforcement learning in JAX."""

__version__ = "0.1.0"
