"""Environments with the gymnax >= 1.0 API, one registry, wrappers and a brax adapter.

Public API:
    make(name, **options) -> (env, params); registered() -> names; accepted_options(name);
    is_heavy(name) (runs brax physics: minutes of compilation on a CPU);
    register(name, factory, heavy=False, overwrite=False) adds a user's task (docs/CUSTOM.md).
    Wrappers (``envs.wrappers``): EpisodeStatistics, PreviousActionReward, FlattenObservation,
    MaskObservation, GaussianObservationNoise, AffineReward, ClipAction, RescaleAction,
    ConformToContract.
    BraxEnv (``envs.brax_adapter``): a brax environment behind the gymnax API.
See docs/ARCHITECTURE.md for the environment contract.
"""

from envs.brax_adapter import BraxEnv
from envs.registry import accepted_options, is_heavy, make, register, registered
from envs.wrappers import (
    AffineReward,
    ClipAction,
    ConformToContract,
    EpisodeStatistics,
    FlattenObservation,
    GaussianObservationNoise,
    MaskObservation,
    PreviousActionReward,
    RescaleAction,
)

__all__ = [
    "AffineReward",
    "BraxEnv",
    "ClipAction",
    "ConformToContract",
    "EpisodeStatistics",
    "FlattenObservation",
    "GaussianObservationNoise",
    "MaskObservation",
    "PreviousActionReward",
    "RescaleAction",
    "accepted_options",
    "is_heavy",
    "make",
    "register",
    "registered",
]
