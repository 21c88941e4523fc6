"""One memax 0.1.1 recurrent layer, forward + backward (peer of `ours_core.py`).

    python memax_core.py --core gru      # lru, s6 (one state per channel) or gru

The case of `pair.CORE`: `B` sequences of `T` steps, width `H` (state size `H` for LRU and S6),
an episode start every `reset_every` steps; the gradient of `sum(y ** 2)` over the parameters.
memax runs one sequence per call and is vmapped over the batch, as its own training code does.
"""

import jax
import jax.numpy as jnp
from memax.linen.semigroups.lru import LRU
from memax.linen.semigroups.s6 import S6
from memax.linen.set_actions.gru import GRU
from pair import CORE, arg, median_run, report, timed


def make_layer(name: str, hidden: int):
    if name == "gru":
        return GRU(
            algebra=GRU.default_algebra(recurrent_size=hidden),
            scan=GRU.default_scan(),
            recurrent_size=hidden,
        )
    cls = {"lru": LRU, "s6": S6}[name]
    return cls(
        algebra=cls.default_algebra(recurrent_size=hidden),
        scan=cls.default_scan(),
        hidden_size=hidden,
        recurrent_size=hidden,
    )


def main() -> None:
    name = arg("core", "gru")
    batch, length, hidden = (int(arg(k, str(CORE[k]))) for k in ("batch", "length", "hidden"))
    layer = make_layer(name, hidden)
    x = jax.random.normal(jax.random.key(0), (batch, length, hidden))
    start = jnp.zeros((batch, length), bool).at[:, :: CORE["reset_every"]].set(True)
    h0 = jax.tree.map(
        lambda leaf: jnp.broadcast_to(leaf, (batch, *leaf.shape)), layer.initialize_carry()
    )
    params = layer.init(jax.random.key(1), layer.initialize_carry(), (x[0], start[0]))

    def loss(params, x):
        _, y = jax.vmap(layer.apply, in_axes=(None, 0, 0))(params, h0, (x, start))
        return jnp.sum(y**2)

    grad = jax.jit(jax.grad(loss))
    compile_s, compiled = timed(lambda: grad.lower(params, x).compile())
    run_s = median_run(lambda: jax.block_until_ready(compiled(params, x)))
    report(compile_s=compile_s, run_s=run_s, steps=batch * length)


if __name__ == "__main__":
    main()
