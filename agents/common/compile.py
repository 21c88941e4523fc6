"""XLA options of the programs that train on many rows at once (the model-based agent, the world
models).

    jax.jit(update, compiler_options=compiler_options())

On the CPU, jax 0.10's XLA hands element-wise fusions and reductions to YNNPACK. For matrices
of thousands of rows (the critic of the model-based agent reads `16 x 512` imagined states; a
world model's heads read every record of a batch) those fusions ran the backward pass of a
two-layer MLP 2.3x slower than XLA's own loop emitters (28 ms against 12 ms at 8,192 rows,
width 64, 255 outputs), the model-based agent's whole iteration 1.1x slower and the world-model
trainer's update 1.3x to 1.5x slower (`benchmarks.scaling`'s 1-device rows). For PPO's
small minibatches it is the other way round (feed-forward PPO on CartPole ran 1.25x slower with
them off), so PPO keeps XLA's defaults. Other backends get no option (None).
"""

import jax

CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}
"""YNNPACK fusions off (an empty list of fusion types)."""


def compiler_options(backend: str | None = None) -> dict[str, str] | None:
    """The options for `jax.jit(..., compiler_options=...)` on `backend` (default: JAX's)."""
    return dict(CPU_OPTIONS) if (backend or jax.default_backend()) == "cpu" else None
