"""Write your own core and environment, register them, and train PPO on them (docs/CUSTOM.md).

The test suite runs this file (tests/test_custom_example.py), so it stays correct. Run it alone
with `python -m docs.examples.custom` (a few seconds of compilation on a CPU).

Axis names: `T` time, `B` batch (environments), `D` input features, `H` core width.
"""

import dataclasses
import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

import envs
import rlssm.cores as cores
from agents.ppo import NetworkConfig, PPOConfig, make_train

# --- A memory core --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LeakyConfig(cores.CoreConfig):
    """A stack of leaky integrators: `h[t] = a * h[t-1] + (1 - a) * W x[t]`, per channel."""

    init_decay: float = 0.9
    """Initial decay `a` of every channel (learned, kept in (0, 1) by a sigmoid)."""

    name: ClassVar[str] = "leaky"  # the registry name; saved configs store it

    def __post_init__(self) -> None:
        super().__post_init__()  # checks hidden_size and num_layers
        if not 0.0 < self.init_decay < 1.0:
            raise ValueError(f"LeakyConfig.init_decay must be in (0, 1), got {self.init_decay}.")

    def build(self) -> "LeakyCore":
        return LeakyCore(self)


class LeakyCore(cores.MemoryCore):
    """The core of `LeakyConfig`. `MemoryCore` checks the inputs of `__call__` and `step`, then
    calls `_sequence` or `_step`; a core only fills in those two and `initialize_carry`."""

    config: LeakyConfig

    def setup(self) -> None:
        width, layers = self.config.hidden_size, self.config.num_layers
        logit = math.log(self.config.init_decay / (1.0 - self.config.init_decay))
        self.inputs = [nn.Dense(width, name=f"input_{layer}") for layer in range(layers)]
        self.outputs = [nn.Dense(width, name=f"output_{layer}") for layer in range(layers)]
        self.decay_logits = [
            self.param(f"decay_logit_{layer}", nn.initializers.constant(logit), (width,))
            for layer in range(layers)
        ]

    def initialize_carry(self, batch_size: int) -> tuple[jax.Array, ...]:
        """One state `[B, H]` of zeros per layer: every leaf leads with `B`, no params needed."""
        shape = (batch_size, self.config.hidden_size)
        return tuple(jnp.zeros(shape, jnp.float32) for _ in range(self.config.num_layers))

    def _sequence(self, carry, x, start):
        """`x[T, B, D]`, `start[T, B]` -> (carry after `x[T-1]`, `y[T, B, H]`)."""
        new_carry = []
        for layer, h in enumerate(carry):
            decay = jax.nn.sigmoid(self.decay_logits[layer])  # [H], in (0, 1): stable
            u = (1.0 - decay) * self.inputs[layer](x)  # [T, B, H], parameters outside the scan

            def cell(h, inputs, decay=decay):
                u_t, start_t = inputs
                # A start resets the state *before* x[t]: its gradient to the past is exactly 0.
                h = jnp.where(start_t[:, None], 0.0, h)
                h = decay * h + u_t
                return h, h

            h, hs = jax.lax.scan(cell, h, (u, start))
            new_carry.append(h)
            x = jnp.tanh(self.outputs[layer](hs))  # the next layer's input, [T, B, H]
        return tuple(new_carry), x

    def _step(self, carry, x, start):
        """One step is a sequence of length 1, so `step` in a loop equals `__call__`."""
        carry, y = self._sequence(carry, x[None], start[None])
        return carry, y[0]


# --- An environment -------------------------------------------------------------------------


@struct.dataclass
class EnvState(environment.EnvState):
    """`time` (steps taken, from gymnax's EnvState) and the `cue` to recall, int32 `[]`."""

    cue: jax.Array


@struct.dataclass
class EnvParams(environment.EnvParams):
    """Numeric options live in the params (so they can be vmapped); `delay + 1` steps an episode."""

    max_steps_in_episode: int = 64


class Recall(environment.Environment[EnvState, EnvParams]):
    """Show one of `num_cues` cues, then `delay` blank steps; the agent names the cue at the last.

    Observation float32 `[num_cues + 1]`: the one-hot cue (first step only) and a "now answer"
    flag (last step). Action Discrete(num_cues). Reward +1 for the right answer at the last step,
    then the episode terminates. Shape-setting options (`num_cues`) go to the constructor.
    """

    def __init__(self, num_cues: int = 2, delay: int = 3):
        self.num_cues = num_cues
        self.delay = delay

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def _obs(self, state: EnvState) -> jax.Array:
        cue = jax.nn.one_hot(state.cue, self.num_cues) * (state.time == 0)
        answer = jnp.asarray([state.time == self.delay], jnp.float32)
        return jnp.concatenate([cue, answer]).astype(jnp.float32)

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        state = EnvState(time=0, cue=jax.random.randint(key, (), 0, self.num_cues))
        return self._obs(state), state

    def step_env(self, key, state: EnvState, action, params: EnvParams):
        """gymnax's `step` wraps this: auto-reset, truncation, `info["final_observation"]`."""
        answering = state.time == self.delay
        reward = jnp.where(answering & (action == state.cue), 1.0, 0.0).astype(jnp.float32)
        state = state.replace(time=state.time + 1)
        return self._obs(state), state, reward, answering, {}

    def observation_space(self, params: EnvParams) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.num_cues + 1,), jnp.float32)

    def action_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_cues)


def make_recall(num_cues: int = 2, delay: int = 3) -> tuple[Recall, EnvParams]:
    """The factory the registry calls: `envs.make("Recall", delay=5)` -> `(env, params)`.
    Its keyword parameters are the options `envs.make` accepts, checked by name and type."""
    env = Recall(num_cues=num_cues, delay=delay)
    return env, env.default_params


# --- Register and train ---------------------------------------------------------------------


def register(overwrite: bool = False) -> None:
    """Registers the core as "leaky" and the task as "Recall" (overwrite=True to re-run a cell)."""
    cores.register("leaky", LeakyConfig, overwrite=overwrite)
    envs.register("Recall", make_recall, overwrite=overwrite)


def tiny_config(**overrides) -> PPOConfig:
    """PPO with the user's core on the user's task, by name, two updates of 4 x 8 steps."""
    fields = {
        "env_name": "Recall",
        "env_options": {"delay": 4},
        "core": cores.config_for("leaky", hidden_size=8),  # or LeakyConfig(hidden_size=8)
        "network": NetworkConfig(encoder_sizes=(8,), head_sizes=(8,)),
        "num_envs": 4,
        "num_steps": 8,
        "total_timesteps": 64,
        "update_epochs": 1,
        "num_minibatches": 2,
    }
    return PPOConfig(**{**fields, **overrides})


def learning_config() -> PPOConfig:
    """Enough to solve Recall (chance: 0.5) in about 15 updates; a few seconds on a CPU."""
    return tiny_config(
        core=LeakyConfig(hidden_size=32),
        network=NetworkConfig(encoder_sizes=(32,), head_sizes=(32,)),
        num_envs=16,
        num_steps=20,
        update_epochs=4,
        num_minibatches=4,
        lr=3e-3,
        total_timesteps=16 * 20 * 40,
    )


def main(config: PPOConfig | None = None, num_seeds: int = 2) -> dict:
    """Trains `num_seeds` seeds at once and returns the metrics of every update, `[N, U]` leaves."""
    train = jax.jit(jax.vmap(make_train(config or tiny_config())))
    _, metrics = train(jax.random.split(jax.random.key(0), num_seeds))
    return metrics


if __name__ == "__main__":
    register()
    metrics = main(learning_config())
    print("mean return every 5 updates (seed 0):", metrics["return_mean"][0, ::5])
