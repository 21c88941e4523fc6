"""rlssm's RepeatPreviousEasy (pure JAX): env steps/s with random actions and auto-reset, in one
jitted scan (peer of `popgym_env.py`).

    python ours_env.py --steps 20000 --num-envs 1     # one environment, like popgym's
    python ours_env.py --steps 2000 --num-envs 512    # vectorised, as the agents run it
"""

import jax
from pair import arg, median_run, report, timed

import envs
from benchmarks.envs import make_rollout


def main() -> None:
    steps, num_envs = int(arg("steps", "20000")), int(arg("num-envs", "1"))
    env, params = envs.make("RepeatPreviousEasy")
    rollout = jax.jit(make_rollout(env, params, num_envs, steps))
    key = jax.random.key(0)
    compile_s, compiled = timed(lambda: rollout.lower(key).compile())
    run_s = median_run(lambda: jax.block_until_ready(compiled(key)), repeats=3)
    report(compile_s=compile_s, run_s=run_s, steps=steps * num_envs, num_envs=num_envs)


if __name__ == "__main__":
    main()
