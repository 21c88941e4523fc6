"""Named starting points of `python -m experiments.dreamer PRESET`; each is a `TrainArgs`."""

from agents.dreamer.config import DreamerConfig
from agents.dreamer.replay import ReplayConfig
from experiments.dreamer.trainer import DreamerRunConfig, TrainArgs


def _preset_memory() -> tuple[str, TrainArgs]:
    return (
        "Memory/RewardCue (a cue shown for the first 4 of 32 context steps, then 16 query steps "
        "whose corner goals pay +1 or -1 by the cue), 16x16 frames as vectors, S4WM on S5 at "
        "cpu-small's widths, 128-step windows (4 per update) from the stored carry, rates "
        "3e-3/3e-5/3e-5, reconstruction x10 and the world model's reward term x100: the "
        "settings with which the agent beats S5-PPO on this task at 200k env steps "
        "(docs/BENCHMARKS.md); 200k env steps per seed, 2 seeds; CPU-sized (3 seeds took "
        "49 minutes on 2 cores).",
        TrainArgs(
            DreamerConfig(
                env_name="Memory/RewardCue",
                env_options={"context_length": 32, "query_length": 16, "tile_size": 2},
                replay=ReplayConfig(capacity=4096, length=128, context="stored"),
                batch_size=4,
                model_lr=3e-3,
                actor_lr=3e-5,
                critic_lr=3e-5,
                recon_scale=10.0,
                reward_loss_scale=100.0,
                total_timesteps=200_000,
            ),
            DreamerRunConfig(num_seeds=2),
            "memory",
        ),
    )


def _preset_brax() -> tuple[str, TrainArgs]:
    return (
        "Continuous control on brax/halfcheetah (the PPO brax preset's task) with DreamerV3's "
        "proprioceptive settings: 16 envs, train ratio 512, batch 16 x 64 from the episode "
        "start, 800k-step replay, S4WM on S5 at width 512, bounded normal actor, 1M env steps. "
        "GPU-sized; add --no-checkpoint-replay for small checkpoints.",
        TrainArgs(
            DreamerConfig(
                env_name="brax/halfcheetah",
                num_envs=16,
                act_steps=16,
                total_timesteps=1_000_000,
                train_ratio=512.0,
                batch_size=16,
                replay=ReplayConfig(capacity=50_000, length=64, context="episode_start"),
                core_size=512,
                state_size=64,
                hidden_size=512,
                latent_groups=32,
                latent_classes=32,
                model_lr=1e-4,
                actor_lr=3e-5,
                critic_lr=3e-5,
            ),
            DreamerRunConfig(),
            "brax",
        ),
    )


def presets() -> dict[str, tuple[str, TrainArgs]]:
    """Named starting points: `{name: (description, TrainArgs)}`."""
    return {
        "cpu-small": (
            "POPGym RepeatPreviousEasy with S4WM on an S5 backbone (R2I's design) at width 64, "
            "8 envs, train ratio 32, rewards x50 and reconstruction x10 (the settings that "
            "learn it: docs/BENCHMARKS.md), 150k env steps per seed, 2 seeds; CPU-sized "
            "(3 seeds of it took 41 minutes on 2 cores).",
            TrainArgs(
                DreamerConfig(reward_scale=50.0, recon_scale=10.0, total_timesteps=150_000),
                DreamerRunConfig(num_seeds=2),
                "cpu-small",
            ),
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
                DreamerRunConfig(),
                "popgym-r2i",
            ),
        ),
        "memory": _preset_memory(),
        "brax": _preset_brax(),
    }
