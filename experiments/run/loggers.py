"""Optional metric sinks: TensorBoard (`tensorboard` extra) and Weights & Biases (`wandb` extra).

Both are off by default and their packages are imported only when switched on, so a plain run
never imports them. Each logs, per update, the mean over seeds of every numeric metric, against
environment steps per seed. No credential is passed or written here: wandb reads its own login.
"""

import math
from collections import defaultdict
from pathlib import Path
from typing import Protocol

SKIP = ("update", "seed", "env_steps")


class Logger(Protocol):
    """Receives metrics rows (one per update and seed) after every chunk."""

    def log(self, rows: list[dict]) -> None: ...

    def close(self) -> None: ...


def seed_means(rows: list[dict]) -> list[tuple[int, dict[str, float]]]:
    """Per update `(env_steps, {metric: mean over seeds})`, skipping non-finite values."""
    grouped: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    steps = {}
    for row in rows:
        steps[row["update"]] = row["env_steps"]
        for key, value in row.items():
            finite = isinstance(value, int | float) and math.isfinite(value)
            if key not in SKIP and finite:
                grouped[row["update"]][key].append(float(value))
    return [(steps[u], {k: sum(v) / len(v) for k, v in grouped[u].items()}) for u in sorted(steps)]


class TensorBoardLogger:
    """Scalars `train/<metric>` in `run_dir/tensorboard` (tensorboardX)."""

    def __init__(self, run_dir: Path):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ImportError(
                "--tensorboard needs tensorboardX: pip install 'rlssm[tensorboard]'."
            ) from None
        self.writer = SummaryWriter(logdir=str(Path(run_dir) / "tensorboard"))

    def log(self, rows: list[dict]) -> None:
        for step, means in seed_means(rows):
            for key, value in means.items():
                self.writer.add_scalar(f"train/{key}", value, global_step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbLogger:
    """One wandb run per training run, resumed with it (id stored in the run directory)."""

    def __init__(self, run_dir: Path, project: str, entity: str | None, config: dict):
        try:
            import wandb
        except ImportError:
            raise ImportError("--wandb needs wandb: pip install 'rlssm[wandb]'.") from None
        run_dir = Path(run_dir)
        id_file = run_dir / "wandb_id.txt"
        run_id = id_file.read_text().strip() if id_file.exists() else wandb.util.generate_id()
        id_file.write_text(run_id + "\n")
        self.run = wandb.init(
            project=project,
            entity=entity,
            id=run_id,
            resume="allow",
            dir=str(run_dir),
            name=run_dir.name,
            config=config,
        )

    def log(self, rows: list[dict]) -> None:
        for step, means in seed_means(rows):
            self.run.log({f"train/{k}": v for k, v in means.items()}, step=step)

    def close(self) -> None:
        self.run.finish()
