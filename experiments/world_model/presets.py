"""Named starting points of the world-model command line (`python -m experiments.world_model
PRESET`); each is a `TrainArgs`."""

from experiments.world_model.config import Experiment, TrainArgs, WorldModelRunConfig


def _args(preset: str, run: WorldModelRunConfig | None = None, **experiment) -> TrainArgs:
    return TrainArgs(Experiment(**experiment), run or WorldModelRunConfig(), preset)


def presets() -> dict[str, tuple[str, TrainArgs]]:
    """Named starting points: `{name: (description, TrainArgs)}`."""
    return {
        "cpu-small": (
            "FourRooms with 100 context + 60 query steps, 16x16 frames, width-64 models, "
            "600 updates of 8 episodes: a few minutes on 2 CPU cores.",
            _args("cpu-small"),
        ),
        "cpu-recall": (
            "Teleport-TwoRooms with 30 context + 10 query steps, sharp frames (32 x 16 latents, "
            "width-128 MLPs, 16-channel CNN, reconstruction weighted x16) and half the training "
            "sequences' queries observed blind, 1500 updates of 8 episodes drawn from 1024: "
            "recall on 2 CPU cores in a few minutes.",
            _args(
                "cpu-recall",
                task="Memory/Teleport-TwoRooms",
                context_length=30,
                query_length=10,
                train_episodes=1024,
                hidden_size=128,
                latent_groups=32,
                latent_classes=16,
                cnn_depth=16,
                recon_scale=16.0,
                blind_query=0.5,
                steps=1500,
            ),
        ),
        "gpu-paper": (
            "Sized like S4WM's experiments (Deng et al. 2023): the task's full lengths, 32x32 "
            "frames, width-512 backbone, 50k updates of 16 whole episodes. GPU-sized.",
            _args(
                "gpu-paper",
                context_length=500,
                query_length=500,
                tile_size=4,
                train_episodes=2048,
                eval_episodes=64,
                core_size=512,
                core_layers=4,
                state_size=128,
                hidden_size=512,
                latent_groups=32,
                latent_classes=32,
                cnn_depth=32,
                reward_bins=255,
                steps=50_000,
                batch_size=16,
                lr=3e-4,
                grad_clip=1000.0,
                run=WorldModelRunConfig(chunk_updates=500),
            ),
        ),
    }
