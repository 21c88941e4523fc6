"""Recurrent PPO with any memory core (see docs/ARCHITECTURE.md, "Agents").

Public API:
    PPOConfig, NetworkConfig: frozen configs (validated on construction).
    make_train(config) -> train(key) -> (RunnerState, metrics); jit and vmap it over seeds.
    make_agent(config) -> Agent(init, update, run, ...): the same functions, for chunked runs.
    gae: advantages with termination and truncation kept apart.
"""

from agents.ppo.config import NetworkConfig, PPOConfig
from agents.ppo.gae import Advantages, gae
from agents.ppo.rollout import RunnerState, Transition
from agents.ppo.train import Agent, make_agent, make_train

__all__ = [
    "Advantages",
    "Agent",
    "NetworkConfig",
    "PPOConfig",
    "RunnerState",
    "Transition",
    "gae",
    "make_agent",
    "make_train",
]
