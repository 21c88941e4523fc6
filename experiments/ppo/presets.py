"""Named PPO starting points of the command line (`python -m experiments.ppo PRESET`).

Each preset is a `TrainArgs`; `presets()["cpu-small"][1].ppo` is its `PPOConfig` for use from
Python (`agents.ppo.make_train(ppo_config(args))`).
"""

from agents.ppo import NetworkConfig, PPOConfig
from experiments.ppo.trainer import TrainArgs, train_args
from experiments.run.config import RunConfig
from rlssm import cores


def _args(preset: str, run: RunConfig | None = None, **ppo) -> TrainArgs:
    return train_args(preset, PPOConfig(**ppo), run)


def _preset_cpu_small() -> tuple[str, TrainArgs]:
    return (
        "RepeatFirstEasy with a small S5 (2 layers of width 64), 2 seeds; solves it in a few "
        "minutes on 2 CPU cores.",
        _args(  # PPOConfig's own defaults: one source for Python and the command line
            run=RunConfig(num_seeds=2),
            preset="cpu-small",
        ),
    )


def _preset_cartpole() -> tuple[str, TrainArgs]:
    return (
        "CartPole-v1, feed-forward, the classic purejaxrl setting (5e5 steps).",
        _args(
            env_name="CartPole-v1",
            core=cores.FeedForwardConfig(hidden_size=64, activation="tanh"),
            network=NetworkConfig(encoder_sizes=(), head_sizes=(64,), shared_trunk=False),
            num_envs=4,
            num_steps=128,
            total_timesteps=500_000,
            update_epochs=4,
            num_minibatches=4,
            lr=2.5e-4,
            preset="cartpole",
        ),
    )


def _preset_popgym_paper() -> tuple[str, TrainArgs]:
    return (
        "The S5 RL paper's PPO on POPGym (Lu et al. 2023): S5 4x256, 64 envs x 1024 steps, "
        "30 epochs, 8 minibatches, lr 5e-5, lambda 1.0, 15M steps. GPU-sized.",
        _args(
            env_name="RepeatPreviousHard",
            core=cores.S5Config(
                hidden_size=256,
                state_size=256,
                num_layers=4,
                activation="full_glu",
                norm="none",
                prenorm=False,
            ),
            network=NetworkConfig(
                encoder_sizes=(128, 256), head_sizes=(128, 128), activation="leaky_relu"
            ),
            num_envs=64,
            num_steps=1024,
            total_timesteps=15_000_000,
            update_epochs=30,
            num_minibatches=8,
            lr=5e-5,
            anneal_lr=False,
            gae_lambda=1.0,
            ent_coef=0.0,
            vf_coef=1.0,
            previous_action_reward=True,
            preset="popgym-paper",
        ),
    )


def _preset_meta_cartpole() -> tuple[str, TrainArgs]:
    return (
        "MetaCartPole (16 trials of stateless CartPole under a random projection drawn per "
        "episode) with a GRU of width 128, 20M steps; about 12 minutes on 2 CPU cores. "
        "Evaluate with `python -m experiments.evaluate RUN_DIR` for the return of each trial.",
        _args(
            env_name="MetaCartPole",
            core=cores.GRUConfig(hidden_size=128),
            num_envs=64,
            num_steps=128,
            total_timesteps=20_000_000,
            lr=5e-4,
            gamma=0.999,
            normalize_obs=True,
            preset="meta-cartpole",
        ),
    )


def _preset_brax() -> tuple[str, TrainArgs]:
    return (
        "Continuous control on brax/halfcheetah (purejaxrl's brax PPO setting). GPU-sized.",
        _args(
            env_name="brax/halfcheetah",
            core=cores.FeedForwardConfig(hidden_size=256, activation="tanh"),
            network=NetworkConfig(
                encoder_sizes=(), head_sizes=(256,), shared_trunk=False, squash=True
            ),
            num_envs=2048,
            num_steps=10,
            total_timesteps=50_000_000,
            update_epochs=4,
            num_minibatches=32,
            lr=3e-4,
            ent_coef=0.0,
            normalize_obs=True,
            normalize_value=True,
            preset="brax",
        ),
    )


def presets() -> dict[str, tuple[str, TrainArgs]]:
    """Named starting points: `{name: (description, TrainArgs)}`."""
    return {
        "cpu-small": _preset_cpu_small(),
        "cartpole": _preset_cartpole(),
        "popgym-paper": _preset_popgym_paper(),
        "meta-cartpole": _preset_meta_cartpole(),
        "brax": _preset_brax(),
    }
