"""One rlssm memory-core layer, forward + backward (peer of `memax_core.py`).

    python ours_core.py --core gru               # lru, s6 or gru
    python ours_core.py --core s6 --state-size 16

The case of `pair.CORE`, time-major (`x[T, B, H]`); the gradient of `sum(y ** 2)` over the
parameters. A core is `cores.make(name)` with one layer: it also has an input projection (and
a residual block with its norm for the linear cores), which memax's bare layer does not, so the
comparison is conservative for rlssm. S6's `--state-size` is N per channel (memax's S6 has 1).
"""

import jax
import jax.numpy as jnp
from pair import CORE, arg, median_run, report, timed

import rlssm.cores as cores
from benchmarks.common import planned_memory_mb


def main() -> None:
    name = arg("core", "gru")
    batch, length, hidden = (int(arg(k, str(CORE[k]))) for k in ("batch", "length", "hidden"))
    options = {"hidden_size": hidden, "num_layers": 1}
    if name == "lru":
        options["state_size"] = hidden
    if name == "s6":
        options["state_size"] = int(arg("state-size", "1"))
    core = cores.make(name, **options)
    carry = core.initialize_carry(batch)
    x = jax.random.normal(jax.random.key(0), (length, batch, hidden))
    start = jnp.zeros((length, batch), bool).at[:: CORE["reset_every"]].set(True)
    params = jax.jit(core.init)(jax.random.key(1), carry, x[:2], start[:2])

    def loss(params, x):
        return jnp.sum(core.apply(params, carry, x, start)[1] ** 2)

    grad = jax.jit(jax.grad(loss))
    compile_s, compiled = timed(lambda: grad.lower(params, x).compile())
    run_s = median_run(lambda: jax.block_until_ready(compiled(params, x)))
    memory_mb = planned_memory_mb(compiled)
    report(compile_s=compile_s, run_s=run_s, steps=batch * length, memory_mb=memory_mb)


if __name__ == "__main__":
    main()
