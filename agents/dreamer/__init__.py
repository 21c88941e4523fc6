"""The model-based agent: actor-critic in a world model's imagination (DreamerV3-style).

Public API:
    lambda_returns: TD(lambda) returns of an imagined trajectory (`[horizon, B]`, time-major).
    discount_weights: the loss weight of each imagined state (the discounted chance to reach it).
    ReturnScale, init_return_scale, update_return_scale, scale: DreamerV3's return normalisation
        (bias-corrected EMAs of the returns' 5th and 95th percentiles; scale = max(1, p95 - p5)).
"""

from agents.dreamer.return_norm import (
    ReturnScale,
    init_return_scale,
    scale,
    update_return_scale,
)
from agents.dreamer.returns import discount_weights, lambda_returns

__all__ = [
    "ReturnScale",
    "discount_weights",
    "init_return_scale",
    "lambda_returns",
    "scale",
    "update_return_scale",
]
