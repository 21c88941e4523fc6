"""Long-memory probes: copy the first symbol, and remember a cue through noise.

Both show a symbol at `t = 0` and score only the last step, whose answer is that symbol, so they
measure how long a core keeps one item (at lengths 10^3 - 10^4 too). Axis names: `T` time, `B`
batch, `K` symbols.
"""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from rlssm.probes.batch import ProbeBatch, Task, first_step
from rlssm.probes.copy import copy_first_batch


def last_step_only(answer: jax.Array, length: int) -> tuple[jax.Array, jax.Array]:
    """`(target[T, B], mask[T, B])` scoring `answer[B]` at the last step only."""
    batch_size = answer.shape[0]
    target = jnp.zeros((length, batch_size), jnp.int32).at[-1].set(answer)
    return target, jnp.zeros((length, batch_size), bool).at[-1].set(True)


@dataclasses.dataclass(frozen=True)
class CopyFirst(Task):
    """Copy the first input: a symbol at t=0, a blank after it; the answer at the last step is the
    symbol (chance 1/K). Channels: `[symbols (K) | blank]`, as `copy_first_batch`."""

    num_symbols: int = 8
    """K."""

    name: ClassVar[str] = "copy_first"

    @property
    def num_inputs(self) -> int:
        return self.num_symbols + 1

    @property
    def num_classes(self) -> int:
        return self.num_symbols

    def min_length(self) -> int:
        return 2

    def sample(self, key: jax.Array, length: int, batch_size: int) -> ProbeBatch:
        self.check_length(length)
        batch = copy_first_batch(key, length, batch_size, self.num_symbols)
        return ProbeBatch(batch.x, batch.start, *last_step_only(batch.target, length))


@dataclasses.dataclass(frozen=True)
class NoisyCue(Task):
    """Remember the cue: a cue symbol at t=0, then a random distractor symbol every step (on
    their own channels) plus Gaussian noise on every channel, then a query at the last step whose
    answer is the cue (chance 1/K). Channels: `[cue (K) | distractor (K) | query]`."""

    num_symbols: int = 8
    """K."""
    noise_std: float = 0.1
    """Standard deviation of the Gaussian noise added to every input channel after t=0."""

    name: ClassVar[str] = "noisy_cue"

    def __post_init__(self) -> None:
        if self.num_symbols < 2 or self.noise_std < 0:
            raise ValueError("NoisyCue needs num_symbols >= 2 and noise_std >= 0.")

    @property
    def num_inputs(self) -> int:
        return 2 * self.num_symbols + 1

    @property
    def num_classes(self) -> int:
        return self.num_symbols

    def min_length(self) -> int:
        return 2

    def sample(self, key: jax.Array, length: int, batch_size: int) -> ProbeBatch:
        self.check_length(length)
        cue_key, distractor_key, noise_key = jax.random.split(key, 3)
        k, width = self.num_symbols, self.num_inputs
        cue = jax.random.randint(cue_key, (batch_size,), 0, k)
        distractors = jax.random.randint(distractor_key, (length - 2, batch_size), k, 2 * k)
        x = jnp.concatenate(
            [
                jax.nn.one_hot(cue, width)[None],
                jax.nn.one_hot(distractors, width),
                jnp.broadcast_to(jax.nn.one_hot(width - 1, width), (1, batch_size, width)),
            ]
        )
        noise = self.noise_std * jax.random.normal(noise_key, x.shape)
        x = x + noise.at[0].set(0.0)
        return ProbeBatch(x, first_step(length, batch_size), *last_step_only(cue, length))
