"""popgym 1.0.7's RepeatPreviousEasy in NumPy: env steps/s of one environment, random actions,
reset at the end of each episode (peer of `ours_env.py`).

    python popgym_env.py --steps 20000
"""

from pair import arg, report, timed
from popgym.envs.repeat_previous import RepeatPreviousEasy


def run(env, steps: int) -> None:
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()


def main() -> None:
    steps = int(arg("steps", "20000"))
    env = RepeatPreviousEasy()
    run(env, 100)  # warm-up
    run_s, _ = timed(run, env, steps)
    report(compile_s=0.0, run_s=run_s, steps=steps, num_envs=1)


if __name__ == "__main__":
    main()
