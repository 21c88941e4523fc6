"""POPGym's stateless control tasks, built from gymnax physics with wrappers.

The tasks hide part of the state of a classic control task, so that a policy must infer the rest
from the observation history:

- ``StatelessCartPole`` (POPGym's ``PositionOnlyCartPole``): CartPole-v1 observing only the cart
  position and pole angle ``[x, theta]``; ``VelocityOnlyCartPole`` observes only the velocities
  ``[x_dot, theta_dot]``. Easy/Medium/Hard last at most 200/400/600 steps.
- ``NoisyStatelessCartPole``: the position-only task with Gaussian noise of standard deviation
  0.1/0.2/0.3 added to each observation and clipped to the observation bounds; 200 steps.
- ``StatelessPendulum`` (POPGym's ``PositionOnlyPendulum``): Pendulum-v1 observing
  ``[cos(theta), sin(theta)]`` without the angular velocity; 200/150/100 steps.
- ``NoisyStatelessPendulum``: the same with noise 0.1/0.2/0.3 (clipped to [-1, 1]); 200 steps.

Rewards are rescaled as in POPGym so that an episode return lies in ``[-1, 1]``: CartPole gives
``1 / H`` per step (``H`` the episode length limit; a pole that falls ends the episode early, so
the return is the fraction of ``H`` survived), Pendulum maps its reward ``r`` in
``[-16.2736044, 0]`` to ``(r / 8.1368022 + 1) / H``. Reaching ``H`` steps is truncation; a fallen
pole or a cart off the track is termination.

Physics, initial-state distributions and termination rules are gymnax's CartPole-v1 and
Pendulum-v1, which follow gymnasium's (Euler integration), as POPGym's do. One deliberate
difference: POPGym's ``VelocityOnlyCartPole`` returns the positions instead of the velocities on
its first observation (a slip in its ``reset``); here every observation holds the velocities.
All are drawn uniformly from ``[-0.05, 0.05]`` at reset, so the two agree in distribution.

Observations are float32 vectors ``[2]``; CartPole actions are ``Discrete(2)`` (push left or
right), Pendulum actions are a torque ``Box(-2, 2, (1,))``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from gymnax.environments import environment
from gymnax.environments.classic_control import cartpole, pendulum

from envs.wrappers import AffineReward, GaussianObservationNoise, MaskObservation

# Indices into gymnax CartPole's observation [x, x_dot, theta, theta_dot].
CARTPOLE_POSITIONS = (0, 2)
CARTPOLE_VELOCITIES = (1, 3)
# Indices into gymnax Pendulum's observation [cos(theta), sin(theta), theta_dot].
PENDULUM_ANGLE = (0, 1)
# Half the range of Pendulum's reward [-(pi^2 + 0.1 * 8^2 + 0.001 * 2^2), 0], as in POPGym.
PENDULUM_REWARD_HALF_RANGE = 16.2736044 / 2


def _hide_and_noise(
    env: environment.Environment, indices: tuple[int, ...], noise_std: float
) -> environment.Environment:
    env = MaskObservation(env, indices)
    if noise_std > 0:
        env = GaussianObservationNoise(env, std=noise_std, clip=True)
    return env


def stateless_cartpole(
    observed: str = "position", max_steps_in_episode: int = 200, noise_std: float = 0.0
) -> tuple[environment.Environment, cartpole.EnvParams]:
    """Builds a partially observed CartPole.

    Args:
        observed: ``"position"`` to observe ``[x, theta]`` or ``"velocity"`` for
            ``[x_dot, theta_dot]``.
        max_steps_in_episode: Episode length limit ``H`` (truncation); each step pays ``1 / H``.
        noise_std: Standard deviation of Gaussian observation noise (0 for none).

    Returns:
        ``(env, params)``: the wrapped environment and its CartPole ``EnvParams``.
    """
    indices = {"position": CARTPOLE_POSITIONS, "velocity": CARTPOLE_VELOCITIES}.get(observed)
    if indices is None:
        raise ValueError(f"observed must be 'position' or 'velocity', got {observed!r}")
    env = _hide_and_noise(cartpole.CartPole(), indices, noise_std)
    env = AffineReward(env, divide_by_horizon=True)
    params = cartpole.EnvParams(max_steps_in_episode=max_steps_in_episode)
    return env, params


def stateless_pendulum(
    max_steps_in_episode: int = 200, noise_std: float = 0.0
) -> tuple[environment.Environment, pendulum.EnvParams]:
    """Builds a Pendulum observing ``[cos(theta), sin(theta)]`` only.

    Args:
        max_steps_in_episode: Episode length limit ``H`` (truncation).
        noise_std: Standard deviation of Gaussian observation noise (0 for none).

    Returns:
        ``(env, params)``: the wrapped environment and its Pendulum ``EnvParams``.
    """
    env = _hide_and_noise(pendulum.Pendulum(), PENDULUM_ANGLE, noise_std)
    env = AffineReward(
        env, scale=1.0 / PENDULUM_REWARD_HALF_RANGE, shift=1.0, divide_by_horizon=True
    )
    params = pendulum.EnvParams(max_steps_in_episode=max_steps_in_episode)
    return env, params


def _levels(
    names: tuple[str, ...], factory: Callable[..., Any], **levels: dict[str, Any]
) -> dict[str, Callable[..., Any]]:
    """Registers one factory per difficulty level under each of several names."""
    return {
        f"{name}{level}": partial(factory, **kwargs)
        for name in names
        for level, kwargs in levels.items()
    }


ENTRIES: dict[str, Callable[..., tuple[environment.Environment, Any]]] = {
    **_levels(
        ("StatelessCartPole", "PositionOnlyCartPole"),
        stateless_cartpole,
        Easy={"max_steps_in_episode": 200},
        Medium={"max_steps_in_episode": 400},
        Hard={"max_steps_in_episode": 600},
    ),
    **_levels(
        ("NoisyStatelessCartPole", "NoisyPositionOnlyCartPole"),
        stateless_cartpole,
        Easy={"noise_std": 0.1},
        Medium={"noise_std": 0.2},
        Hard={"noise_std": 0.3},
    ),
    **_levels(
        ("VelocityOnlyCartPole",),
        partial(stateless_cartpole, observed="velocity"),
        Easy={"max_steps_in_episode": 200},
        Medium={"max_steps_in_episode": 400},
        Hard={"max_steps_in_episode": 600},
    ),
    **_levels(
        ("StatelessPendulum", "PositionOnlyPendulum"),
        stateless_pendulum,
        Easy={"max_steps_in_episode": 200},
        Medium={"max_steps_in_episode": 150},
        Hard={"max_steps_in_episode": 100},
    ),
    **_levels(
        ("NoisyStatelessPendulum", "NoisyPositionOnlyPendulum"),
        stateless_pendulum,
        Easy={"noise_std": 0.1},
        Medium={"noise_std": 0.2},
        Hard={"noise_std": 0.3},
    ),
}
