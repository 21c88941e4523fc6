"""Named starting points of `python -m experiments.dreamer PRESET`; each is a `TrainArgs`."""

from agents.dreamer.config import DreamerConfig
from agents.dreamer.replay import ReplayConfig
from experiments.dreamer.trainer import TrainArgs
from experiments.run.config import RunConfig


def presets() -> dict[str, tuple[str, TrainArgs]]:
    """Named starting points: `{name: (description, TrainArgs)}`."""
    return {
        "cpu-small": (
            "POPGym RepeatPreviousEasy with S4WM on an S5 backbone (R2I's design) at width 64, "
            "8 envs, train ratio 32, 100k env steps per seed, 2 seeds; CPU-sized.",
            TrainArgs(DreamerConfig(), RunConfig(num_seeds=2), "cpu-small"),
        ),
        "popgym-r2i": (
            "R2I's POPGym settings (Samsonov et al. 2024): 8 envs, train ratio 64, batch 4 x "
            "1024, S4WM on S5. GPU-sized.",
            TrainArgs(
                DreamerConfig(
                    env_name="RepeatPreviousMedium",
                    train_ratio=64.0,
                    batch_size=4,
                    replay=ReplayConfig(capacity=100_000, length=1024, context="stored"),
                    core_size=256,
                    state_size=128,
                    hidden_size=256,
                    latent_groups=32,
                    latent_classes=32,
                    act_steps=64,
                    total_timesteps=2_000_000,
                    model_lr=1e-4,
                    actor_lr=3e-5,
                    critic_lr=3e-5,
                ),
                RunConfig(),
                "popgym-r2i",
            ),
        ),
    }
