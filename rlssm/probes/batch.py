"""The batch every probe task draws, and the task interface.

Axis names: `T` time, `B` batch, `D` input features (one-hot channels), `C` answer classes.
"""

import dataclasses
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int


class ProbeBatch(NamedTuple):
    """One batch of a probe task, time-major."""

    x: Float[Array, "T B D"]
    """Inputs: one-hot channels (a task's docstring says which)."""
    start: Bool[Array, "T B"]
    """True at t=0 only: each row is one episode."""
    target: Int[Array, "T B"]
    """The answer class at every step (0 where `mask` is False)."""
    mask: Bool[Array, "T B"]
    """Which steps are scored (loss and accuracy)."""


@dataclasses.dataclass(frozen=True)
class Task:
    """A synthetic task that isolates one ability. Subclasses set `name` and implement `sample`,
    `num_inputs` and `num_classes`; numeric options are their dataclass fields."""

    name: ClassVar[str] = ""

    @property
    def num_inputs(self) -> int:
        """Input width `D`."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        """Number of answer classes `C` (the readout's width)."""
        raise NotImplementedError

    def min_length(self) -> int:
        """The shortest sequence the task can draw."""
        return 1

    def sample(self, key: jax.Array, length: int, batch_size: int) -> ProbeBatch:
        """Draws a batch of `batch_size` episodes of `length` steps (pure JAX, jittable)."""
        raise NotImplementedError

    def check_length(self, length: int) -> None:
        """Fails before anything compiles when `length` is too short for this task."""
        if length < self.min_length():
            raise ValueError(
                f"{type(self).__name__} needs length >= {self.min_length()}, got {length}."
            )


def first_step(length: int, batch_size: int) -> Bool[Array, "T B"]:
    """`start` of one episode per row: True at t=0 only."""
    return jnp.zeros((length, batch_size), bool).at[0].set(True)


def every_step(tokens: Int[Array, "T B"], num_tokens: int, target: Int[Array, "T B"]) -> ProbeBatch:
    """The batch of a task that shows one token per step and scores every step."""
    length, batch_size = tokens.shape
    return ProbeBatch(
        x=jax.nn.one_hot(tokens, num_tokens),
        start=first_step(length, batch_size),
        target=target.astype(jnp.int32),
        mask=jnp.ones((length, batch_size), bool),
    )
