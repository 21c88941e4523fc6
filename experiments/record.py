"""Recording evaluation episodes: what a policy does, as animations, plots and text.

`python -m experiments.evaluate RUN --record N` plays the first `N` evaluation environments of
seed 0 again (the same keys as the evaluation), keeps each one's first episode, and writes one
set of files per episode to `RUN/eval/record/<task>-<policy>-<update>/`:

- image observations (the memory suite's RGB rooms, MinAtar's `[10, 10, C]` channels, any task
  whose unflattened observation is an image): `episode<i>.gif`, one upscaled frame per step with
  the step (memory tasks: and its phase, context or query), action, reward and return in its
  title (matplotlib's PillowWriter; about 30 ms a frame on a CPU);
- vector observations: `episode<i>.png`, the observation vector over time as a heatmap above
  the actions and rewards;
- POPGym card and grid tasks, also `episode<i>.txt`: a line (or a small board) per step that
  decodes the observation (the card dealt, the 3x3 maze view, the face-up cards, the shots
  fired so far) with the action taken and the reward.

A new recording into the same folder replaces the episode files of the last one. Frame `t`
shows the observation the policy acted on at step `t`, the action it took there and
the reward that action earned; the terminal observation is not shown. Axis names: `T` steps,
`B` environments, `D` observation features.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation, ticker

from agents.common.environment import EnvSpec
from agents.common.evaluate import EvalResult
from envs.memory.base import MemoryEnv
from envs.popgym import cards, concentration, labyrinth

MIN_IMAGE_SIDE = 192
"""Frames are upscaled by an integer factor to at least this many pixels a side."""
SUITS = ("♠", "♦", "♣", "♥")
RANKS = ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K")
COLORS = ("black", "red")
CARD_NAMES = {2: COLORS, 4: SUITS, 13: RANKS}
"""Category names of a card attribute, by its number of categories (envs.popgym.cards)."""
MOVES = ("LEFT", "RIGHT", "UP", "DOWN", "PICKUP")
"""The memory suite's and the labyrinths' action names."""
MAZE_SQUARES = ".#SG?"
"""Labyrinth square codes FREE, OBSTACLE, START, GOAL, HIDDEN as characters."""


@dataclasses.dataclass(frozen=True)
class Episode:
    """One recorded episode, host arrays over its `T` steps."""

    obs: np.ndarray
    """`[T, D]`: the observation the policy acted on at each step."""
    action: np.ndarray
    """`[T]` discrete or `[T, A]` continuous: the action taken."""
    reward: np.ndarray
    """`[T]`: the reward of the action."""
    finished: bool
    """Whether the episode ended within the horizon (else it is cut at the horizon)."""

    @property
    def length(self) -> int:
        return int(self.reward.shape[0])


def episodes_of(result: EvalResult) -> list[Episode]:
    """The first episode of each recorded environment of a rollout with `record=R` (`[T, R]`)."""
    obs = np.asarray(result.obs)
    count = obs.shape[1]
    completed = np.asarray(result.completed)[:, :count]
    action = np.asarray(result.action)[:, :count]
    reward = np.asarray(result.rewards)[:, :count]
    episodes = []
    for b in range(count):
        ends = np.flatnonzero(completed[:, b])
        stop = int(ends[0]) + 1 if ends.size else completed.shape[0]
        episodes.append(Episode(obs[:stop, b], action[:stop, b], reward[:stop, b], bool(ends.size)))
    return episodes


def base_env(spec: EnvSpec) -> Any:
    """The innermost environment under the agent's and the registry's wrappers."""
    env = spec.env
    while hasattr(env, "env"):
        env = env.env
    return env


def image_shape(spec: EnvSpec) -> tuple[int, ...] | None:
    """`(h, w, C)` of the task's image observation (the first features of the flat one), or None."""
    env = spec.env
    while True:
        shape = getattr(env, "image_shape", None)
        if shape is None:
            try:
                shape = tuple(env.observation_space(spec.params).shape)
            except Exception:  # a wrapper holding its task's params in its own
                shape = ()
        if len(shape) == 2:
            shape = (*shape, 1)
        if len(shape) == 3:
            return tuple(int(s) for s in shape)
        if not hasattr(env, "env"):
            return None
        env = env.env


def to_frames(obs: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """uint8 `[T, H, W, 3]` frames from flat observations `[T, D]` that begin with images of
    `shape`: RGB in [0, 1] as is; other channel counts (MinAtar's objects) as one colour per
    channel over black. Upscaled by an integer factor to at least `MIN_IMAGE_SIDE` pixels."""
    size = int(np.prod(shape))
    images = obs[:, :size].reshape(-1, *shape).astype(np.float32)
    if shape[-1] == 3:
        rgb = np.clip(images, 0.0, 1.0)
    else:
        palette = plt.get_cmap("tab10" if shape[-1] <= 10 else "tab20").colors
        colours = np.asarray(palette[: shape[-1]], np.float32)
        rgb = np.clip(np.einsum("thwc,ck->thwk", np.clip(images, 0.0, 1.0), colours), 0.0, 1.0)
    scale = max(1, -(-MIN_IMAGE_SIDE // max(shape[0], shape[1])))
    rgb = rgb.repeat(scale, axis=1).repeat(scale, axis=2)
    return np.round(rgb * 255).astype(np.uint8)


def action_text(action: np.ndarray, names: tuple[str, ...] = ()) -> str:
    """An action as text: its name or id (discrete), or its rounded vector (continuous)."""
    action = np.asarray(action)
    if action.ndim:
        return "[" + " ".join(f"{a:+.2f}" for a in action.reshape(-1)) + "]"
    index = int(action)
    return names[index] if 0 <= index < len(names) else str(index)


def action_names(spec: EnvSpec) -> tuple[str, ...]:
    """Names of the task's discrete actions where known (memory suite, labyrinths), else ()."""
    env = base_env(spec)
    module = type(env).__module__
    if module.startswith("envs.memory") or module.startswith("envs.popgym.labyrinth"):
        return MOVES[: spec.action_dim]
    return ()


def write_gif(path: Path, frames: np.ndarray, titles: list[str], fps: int = 8) -> Path:
    """An animated GIF of uint8 `frames [T, H, W, 3]`, each under its (two-line) title, written
    with matplotlib's PillowWriter."""
    height, width = frames.shape[1:3]
    banner = 30
    fig = plt.figure(figsize=(width / 100, (height + banner) / 100), dpi=100)
    ax = fig.add_axes((0.0, 0.0, 1.0, height / (height + banner)))
    ax.set_axis_off()
    image = ax.imshow(frames[0], interpolation="nearest")
    title = fig.text(0.5, 1.0 - 2 / (height + banner), "", ha="center", va="top", fontsize=7)

    def draw(t: int):
        image.set_data(frames[t])
        title.set_text(titles[t])
        return image, title

    movie = animation.FuncAnimation(fig, draw, frames=len(frames), blit=False)
    movie.save(path, writer=animation.PillowWriter(fps=fps))
    plt.close(fig)
    return path


def frame_titles(
    episode: Episode, names: tuple[str, ...], context_length: int | None = None
) -> list[str]:
    """`step t/T  action a` over `reward r  return R` for every step of an episode; with a
    memory task's `context_length`, each step's phase too (`context` or `query`)."""
    returns = np.cumsum(episode.reward)
    titles = []
    for t in range(episode.length):
        phase = "" if context_length is None else (" context", " query")[t >= context_length]
        titles.append(
            f"step {t}/{episode.length}{phase}  action {action_text(episode.action[t], names)}\n"
            f"reward {episode.reward[t]:+.3g}  return {returns[t]:+.3g}"
        )
    return titles


def context_length(spec: EnvSpec) -> int | None:
    """The context phase's length of a memory benchmark (envs.memory), else None."""
    if not isinstance(base_env(spec), MemoryEnv):
        return None
    return int(getattr(spec.params, "context_length", 0)) or None


def write_strip(path: Path, episode: Episode, title: str, names: tuple[str, ...] = ()) -> Path:
    """A PNG of a vector-observation episode: the observations `[D, T]` as a heatmap above the
    actions, the rewards and the running return, over time."""
    obs = episode.obs.reshape(episode.length, -1)
    fig, (top, middle, bottom, last) = plt.subplots(
        4,
        1,
        sharex=True,
        figsize=(max(6.0, min(24.0, 0.08 * episode.length + 4)), 7),
        gridspec_kw={"height_ratios": [3, 1, 1, 1]},
    )
    top.imshow(obs.T, aspect="auto", interpolation="nearest", cmap="viridis")
    top.set_title(f"observation (dark {obs.min():.3g} to bright {obs.max():.3g})", fontsize=8)
    top.set_ylabel("feature")
    top.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    steps = np.arange(episode.length)
    action = episode.action.reshape(episode.length, -1)
    if action.shape[1] == 1 and np.issubdtype(action.dtype, np.integer):
        middle.step(steps, action[:, 0], where="mid")
        if names:
            middle.set_yticks(range(len(names)), names, fontsize=7)
    else:
        for column in action.T:
            middle.plot(steps, column)
    middle.set_ylabel("action")
    bottom.bar(steps, episode.reward, width=1.0, color="tab:orange")
    bottom.set_ylabel("reward")
    last.plot(steps, np.cumsum(episode.reward), color="tab:blue")
    last.set_ylabel("return")
    last.set_xlabel("step")
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


# Text renderings of POPGym tasks: `describe(env, obs[D]) -> str` decodes one observation.


def card_text(env: Any, obs: np.ndarray) -> str:
    """The card(s) one observation of a POPGym card game shows (envs.popgym.cards)."""
    count = env.num_categories
    names = CARD_NAMES.get(count, tuple(str(i) for i in range(count)))
    flags = obs.shape[0] - count * (obs.shape[0] // count)
    shown = ""
    if type(env).__name__ == "Autoencode":
        flags, phase = 2, ("play", "watch")[int(np.argmax(obs[:2]))]
        if phase == "play":
            return "play"
        shown = "watch "
    cards = [names[int(np.argmax(c))] if c.any() else "-" for c in obs[flags:].reshape(-1, count)]
    if len(cards) == 2:  # CountRecall: the value card, then the query card
        return f"value {cards[0]}  query {cards[1]}"
    return shown + " ".join(cards)


def card_action_names(env: Any) -> tuple[str, ...]:
    """Names of a card game's actions: suits named, higher/lower, else the ids."""
    name = type(env).__name__
    if name == "HigherLower":
        return ("higher", "lower")
    if name in ("RepeatFirst", "RepeatPrevious", "Autoencode"):
        return SUITS
    return ()


def maze_text(env: Any, obs: np.ndarray) -> str:
    """The 3x3 view of a labyrinth observation as three rows (agent in the middle)."""
    codes = np.argmax(obs[:45].reshape(9, 5), axis=-1)
    rows = ["".join(MAZE_SQUARES[c] for c in codes[r * 3 : r * 3 + 3]) for r in range(3)]
    previous = action_text(np.asarray(np.argmax(obs[45:50])), (*MOVES[:4], "NONE"))
    return "\n".join(rows) + f"\n(previous action {previous})"


def concentration_text(env: Any, obs: np.ndarray) -> str:
    """The table of a Concentration observation, 13 positions a row: each position's value
    (rank, or B/R for black/red), `·` if face down."""
    rows = obs[: (env.num_values + 1) * env.num_cards].reshape(env.num_values + 1, env.num_cards)
    names = RANKS if env.num_values == len(RANKS) else tuple(c[0].upper() for c in COLORS)
    shown = np.argmax(rows, axis=0)
    cells = [f"{'·' if v == env.num_values else names[v]:>2}" for v in shown]
    return "\n".join(" ".join(cells[i : i + len(RANKS)]) for i in range(0, len(cells), len(RANKS)))


def board_lines(
    episode: Episode, size: tuple[int, int], mark: Callable[[int], str]
) -> list[np.ndarray]:
    """The board after each step of a grid game whose action is a cell (`row * W + col`):
    `mark(t)` is what step `t`'s shot revealed at its cell."""
    board = np.full(size, ".", dtype="<U1")
    boards = []
    for t in range(episode.length):
        row, col = divmod(int(episode.action[t]), size[1])
        if board[row, col] not in ("X", "*"):
            board[row, col] = mark(t)
        boards.append(board.copy())
    return boards


def grid_boards(env: Any, episode: Episode) -> list[np.ndarray] | None:
    """Boards of Battleship (X hit, o miss) or MineSweeper (mine counts, * mine), else None."""
    name = type(env).__name__
    if name == "Battleship":
        size = (env.board_size, env.board_size)
        return board_lines(episode, size, lambda t: "X" if episode.reward[t] > 0 else "o")
    if name == "MineSweeper":

        def mark(t: int) -> str:
            if episode.reward[t] < -0.5:
                return "*"
            if t + 1 < episode.length:
                return str(int(np.argmax(episode.obs[t + 1, : env.num_counts])))
            return "?"

        return board_lines(episode, (env.height, env.width), mark)
    return None


def describer(env: Any) -> Callable[[Any, np.ndarray], str] | None:
    """The text decoder of one observation of a POPGym task, or None."""
    if isinstance(env, cards.CardGame):
        return card_text
    if isinstance(env, labyrinth.MazeEnv):
        return maze_text
    if isinstance(env, concentration.Concentration):
        return concentration_text
    return None


def episode_text(spec: EnvSpec, episode: Episode, title: str) -> str | None:
    """A readable rendering of a POPGym card or grid episode, step by step, or None."""
    env = base_env(spec)
    describe = describer(env)
    boards = grid_boards(env, episode)
    if describe is None and boards is None:
        return None
    names = card_action_names(env) or action_names(spec)
    size = int(np.prod(env.observation_space(spec.params).shape))  # before appended features
    lines, total = [title, ""], 0.0
    for t in range(episode.length):
        total += float(episode.reward[t])
        action = action_text(episode.action[t], names)
        head = (
            f"step {t:4d}  action {action:>6}  reward {episode.reward[t]:+.4f}  return {total:+.4f}"
        )
        if describe is not None:
            shown = describe(env, np.asarray(episode.obs[t, :size]))
            lines.append(f"{head}  obs {shown}" if "\n" not in shown else f"{head}\n{shown}")
        else:
            lines.append(head)
        if boards is not None:
            lines.extend(" ".join(row) for row in boards[t])
            lines.append("")
    end = "ended" if episode.finished else "cut at the horizon"
    lines.append(f"{end} after {episode.length} steps, return {total:+.4f}")
    return "\n".join(lines) + "\n"


def write_episode(
    folder: Path, index: int, spec: EnvSpec, episode: Episode, task: str, fps: int = 8
) -> list[Path]:
    """Writes the files of one episode (GIF for images, else PNG, and text for POPGym)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = action_names(spec) or card_action_names(base_env(spec))
    status = "ended" if episode.finished else "cut at the horizon"
    title = (
        f"{task}, episode {index}: {episode.length} steps, return "
        f"{float(episode.reward.sum()):+.3f} ({status})"
    )
    shape = image_shape(spec)
    written = []
    if shape is not None:
        frames = to_frames(episode.obs, shape)
        written.append(
            write_gif(
                folder / f"episode{index}.gif",
                frames,
                frame_titles(episode, names, context_length(spec)),
                fps,
            )
        )
    else:
        written.append(write_strip(folder / f"episode{index}.png", episode, title, names))
    text = episode_text(spec, episode, title)
    if text is not None:
        path = folder / f"episode{index}.txt"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def write_episodes(folder: Path, spec: EnvSpec, result: EvalResult, task: str) -> list[Path]:
    """Writes every recorded episode of a rollout with `record=R` into `folder` (replacing the
    episode files of an earlier recording there); returns the files."""
    for stale in folder.glob("episode*") if folder.is_dir() else ():
        if stale.suffix in (".gif", ".png", ".txt"):
            stale.unlink()
    written = []
    for index, episode in enumerate(episodes_of(result)):
        written.extend(write_episode(folder, index, spec, episode, task))
    return written
