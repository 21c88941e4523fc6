"""Shared by both sides of every pair of `python -m benchmarks.peers`: the case sizes, the timing
and the one JSON line each script prints. Standard library only (it runs in both venvs)."""

import json
import statistics
import sys
import time

# purejaxrl's CartPole-v1 PPO setting (ppo.py): 4 envs x 128 steps, 4 epochs x 4 minibatches,
# lr 2.5e-4, 976 updates = 499,712 env steps; actor and critic 2 x 64 tanh.
PPO = {"num_envs": 4, "num_steps": 128, "epochs": 4, "minibatches": 4, "lr": 2.5e-4, "updates": 976}
PPO_STEPS = PPO["num_envs"] * PPO["num_steps"] * PPO["updates"]
# memax's comparison case: one layer forward + backward, B = 64 sequences of T = 1024 steps,
# width H = 256, an episode start every 128 steps.
CORE = {"batch": 64, "length": 1024, "hidden": 256, "reset_every": 128}


def timed(fn, *args):
    """`(seconds, result)` of `fn(*args)`."""
    t0 = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, result


def median_run(call, repeats: int = 5) -> float:
    """Median seconds of `repeats` calls of `call()` after one warm-up call."""
    call()
    return statistics.median(timed(call)[0] for _ in range(repeats))


def report(**fields) -> None:
    """The script's result: one JSON line on stdout."""
    print(json.dumps(fields), flush=True)


def arg(name: str, default: str) -> str:
    """The value after `--name` on the command line, or `default`."""
    argv = sys.argv[1:]
    return argv[argv.index(f"--{name}") + 1] if f"--{name}" in argv else default
