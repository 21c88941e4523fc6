"""The model-based agent: actor-critic in a world model's imagination (DreamerV3-style).

Public API:
    DreamerConfig, make_agent, make_train: the whole training loop in one jit (train.py).
    lambda_returns: TD(lambda) returns of an imagined trajectory (`[horizon, B]`, time-major).
    discount_weights: the loss weight of each imagined state (the discounted chance to reach it).
    ReturnScale, init_return_scale, update_return_scale, scale: DreamerV3's return normalisation
        (bias-corrected EMAs of the returns' 5th and 95th percentiles; scale = max(1, p95 - p5)).
    critic_loss: two-hot symlog cross-entropy against the lambda-returns plus a regulariser towards
        the slow critic's values; critic_loss_grad: the same loss and its gradient with respect
        to the logits in closed form (what the agent trains with); ema_update: the slow
        critic's parameter average.
    categorical_policy, bounded_normal_policy: the actor's action distributions (1% unimix;
        DreamerV3's bounded normal); actor_loss: REINFORCE or dynamics backprop with normalised
        advantages and an entropy bonus.
    replay: the replay ring in device memory (`replay.init`, `add`, `sample`, `can_sample`,
        `sample_with_context`); ReplayConfig (capacity, window length, stored carry or episode
        start context, burn-in), ReplayState, Replayed.
"""

from agents.dreamer import replay
from agents.dreamer.actor import actor_loss, bounded_normal_policy, categorical_policy
from agents.dreamer.config import DreamerConfig
from agents.dreamer.critic import critic_loss, critic_loss_grad, ema_update
from agents.dreamer.replay import ReplayConfig, Replayed, ReplayState
from agents.dreamer.return_norm import (
    ReturnScale,
    init_return_scale,
    scale,
    update_return_scale,
)
from agents.dreamer.returns import discount_weights, lambda_returns
from agents.dreamer.train import make_agent, make_train

__all__ = [
    "DreamerConfig",
    "ReplayConfig",
    "ReplayState",
    "Replayed",
    "ReturnScale",
    "actor_loss",
    "bounded_normal_policy",
    "categorical_policy",
    "critic_loss",
    "critic_loss_grad",
    "discount_weights",
    "ema_update",
    "init_return_scale",
    "lambda_returns",
    "make_agent",
    "make_train",
    "replay",
    "scale",
    "update_return_scale",
]
