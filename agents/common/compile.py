"""XLA options of the programs that train on many rows at once (the model-based agent, the world
models).

    jit(update)          # jax.jit(update, compiler_options=compiler_options())

On the CPU, jax 0.10's XLA hands element-wise fusions and reductions to YNNPACK. For matrices
of thousands of rows (the critic of the model-based agent reads `16 x 512` imagined states; a
world model's heads read every record of a batch) those fusions ran the backward pass of a
two-layer MLP slower than XLA's own loop emitters, and with them the model-based agent's
iteration and the world-model trainer's update. For PPO's small minibatches it is the other way
round (docs/BENCHMARKS.md, "Model-based agent"), so PPO keeps XLA's defaults. Other backends
get no option (None).
"""

import jax

CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}
"""YNNPACK fusions off (an empty list of fusion types)."""


def compiler_options(backend: str | None = None) -> dict[str, str] | None:
    """The options for `jax.jit(..., compiler_options=...)` on `backend` (default: JAX's)."""
    return dict(CPU_OPTIONS) if (backend or jax.default_backend()) == "cpu" else None


def jit(fn, **kwargs):
    """`jax.jit(fn, **kwargs)` with `compiler_options()` (the model-based agent's and the
    world-model trainer's programs)."""
    return jax.jit(fn, compiler_options=compiler_options(), **kwargs)
