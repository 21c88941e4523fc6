"""The model-based agent: actor-critic in a world model's imagination (DreamerV3-style).

Public API:
    lambda_returns: TD(lambda) returns of an imagined trajectory (`[horizon, B]`, time-major).
    discount_weights: the loss weight of each imagined state (the discounted chance to reach it).
"""

from agents.dreamer.returns import discount_weights, lambda_returns

__all__ = [
    "discount_weights",
    "lambda_returns",
]
