"""rlssm's PPO on CartPole-v1 at purejaxrl's setting (peer of `rejax_ppo.py`): the
`ff-cartpole-speed` case of `benchmarks.ppo` (the `cartpole` preset of `experiments.ppo`).

    python ours_ppo.py --seed 0               # compile, then one timed whole run of one seed
"""

import dataclasses

import jax
import numpy as np
from pair import PPO_STEPS, arg, report, timed

from agents.ppo import make_train
from benchmarks.ppo import cases


def main() -> None:
    key = jax.random.key(int(arg("seed", "0")))
    config = cases()["ff-cartpole-speed"].config
    assert config.num_updates * config.steps_per_update == PPO_STEPS, "settings drifted apart"
    updates = int(arg("updates", str(config.num_updates)))  # fewer only to test this script
    config = dataclasses.replace(config, total_timesteps=updates * config.steps_per_update)
    train = jax.jit(make_train(config))
    compile_s, compiled = timed(lambda: train.lower(key).compile())
    run_s, (_, metrics) = timed(lambda: jax.block_until_ready(compiled(key)))
    final = float(np.nanmean(metrics["return_mean"][-10:]))
    report(compile_s=compile_s, run_s=run_s, env_steps=config.total_timesteps, final_return=final)


if __name__ == "__main__":
    main()
