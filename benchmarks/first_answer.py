"""Where RepeatFirst's first answer is lost: the model-based agent's values against its actor.

For every checkpoint of an `experiments.dreamer` run on a RepeatFirst task, on fresh episodes
in which the right answer (the first card's suit) was given at every step before: how often
the best of the one-step action values that the `target` and `expected` actor gradients read
(`agents.dreamer.train.action_values`: reward plus discounted continuing value, from the
world model and the critic) names the first card, how often the actor's mode does, and the
actor's entropy there. On the first step the card is in view and the memory empty; on the
later ones the card is remembered. Values right and the actor at chance mean the actor holds
the answer back; both at chance, the world model or the critic. The values split into their
two terms: how often the reward term alone names the first card (`reward`), and by how much the
critic's term (`gamma x continue x v(next)`) favours the right answer over the mean wrong one
(`after_gap`, in the learnt return's units: the rewards times `--reward-scale`). A negative
`after_gap` larger than the reward's edge means the critic, not the world model, turns the
values away from the card.

What the critic's term stands for, in imagination: from the first step of each episode, one
imagined trajectory per first answer (`agents.dreamer.train.imagine_branches`: that answer,
then `horizon - 1` steps of the actor, the world model's rewards), and of its later answers
how many name the card after the right first answer (`names_after_right`) and after a wrong
one (`names_after_wrong`), how many repeat a wrong first answer (`repeats_wrong`), and the
mean reward the world model gives later answers that repeat a wrong first answer
(`reward_of_repeats`; in the environment they are wrong, `-reward_scale / length`) and
later answers that name the card after a wrong one (`reward_of_names`; right, `+reward_scale
/ length`). A positive `reward_of_repeats` means the world model remembers the first answer
where it should remember the first card (the two agree on every episode the actor answered
right, so the replay cannot tell them apart without other first answers).

    python -m benchmarks.first_answer RUN_DIR [--steps 0 1 10 40] [--episodes 512]

Prints one JSON line per checkpoint and seed: `{"update", "seed", "steps": {t: {"values",
"reward", "after_gap", "actor", "entropy"}}, "after": {"names_after_right",
"names_after_wrong", "repeats_wrong", "reward_of_repeats", "reward_of_names"}}` (axis names:
`E` episodes, `A` actions, `H` imagined steps; a share or mean over no answers is null),
`"values_by_card"`: per first card, the share of its episodes whose best first-step action
value names it (a sway that hits one card of four shows as 0.75 in `values`).
"""

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from agents.dreamer.features import reader
from agents.dreamer.train import (
    action_value_terms,
    imagine_branches,
    make_heads,
    make_world_model,
    policy_of,
)
from experiments import evaluate
from experiments.run import checkpoint
from experiments.run.lifecycle import load_config
from experiments.run.run_dir import RunDir
from experiments.run.serialize import ConfigError


@dataclasses.dataclass(frozen=True)
class Args:
    """The run to probe and where."""

    run_dir: tyro.conf.Positional[Path]
    """A finished or paused `experiments.dreamer` run on RepeatFirstEasy/Medium/Hard."""
    steps: tuple[int, ...] = (0, 1, 10, 40)
    """Episode steps probed (0: the first answer)."""
    episodes: int = 512
    """Fresh episodes per checkpoint and seed."""
    seed: int = 0
    """Seed of the episodes and of the world model's latent draws."""


AFTER = (
    "names_after_right",
    "names_after_wrong",
    "repeats_wrong",
    "reward_of_repeats",
    "reward_of_names",
)


def make_probe(config, spec, steps: tuple[int, ...], episodes: int):
    """Returns `probe(wm_params, actor_params, critic_params, key) -> ([len(steps), 5],
    [5], [A])`: per probed step, the share of episodes whose best action value, whose best reward
    term and whose actor's mode name the first card, the critic term's mean edge for it
    (`after_gap`) and the actor's mean entropy; and `first_step`'s split and shares by card
    (one seed)."""
    model = make_world_model(config, spec)
    actor, critic = make_heads(config, spec)
    read = reader(config.features, config.first_flag)

    def probe(wm_params, actor_params, critic_params, key):
        policy = policy_of(spec, actor, actor_params, config.actor_unimix)
        reset_key, key = jax.random.split(key)
        obs, env_state = jax.vmap(spec.env.reset, (0, None))(
            jax.random.split(reset_key, episodes), spec.params
        )
        card = jnp.argmax(obs, -1)  # RepeatFirst's answer at every step
        carry, previous, rows = model.initial_carry(episodes), jnp.zeros_like(card), []
        for t in range(max(steps) + 1):
            key, filter_key, value_key, env_key = jax.random.split(key, 4)
            start = jnp.full((episodes,), t == 0)
            carry, _, _ = model.observe_step(wm_params, carry, obs, previous, start, filter_key)
            if t == 0 or t in steps:  # one draw of the values serves both reads
                args = (config, spec, model, critic, wm_params, critic_params, carry, value_key)
                reward, after = action_value_terms(*args)
            if t == 0:
                params = (wm_params, actor_params)
                args = (carry, card, reward + after, value_key)
                first = first_step(config, spec, (model, actor), params, *args)
            if t in steps:
                dist = policy(read(carry, start))
                names = [jnp.argmax(reward + after, -1), jnp.argmax(reward, -1), dist.mode()]
                right = [(x == card).mean() for x in names]
                gap = edge(after, card).mean()
                rows.append(jnp.stack([right[0], right[1], gap, right[2], dist.entropy().mean()]))
            obs, env_state, *_ = jax.vmap(spec.env.step, (0, 0, 0, None))(
                jax.random.split(env_key, episodes), env_state, card, spec.params
            )
            previous = card
        return jnp.stack(rows), *first

    return probe


def first_step(config, spec, nets, params, carry, card, values, key):
    """At the episodes' first step (`carry` after the first observation; `values[E, A]` the
    one-step action values there): the imagined branches' `AFTER` split, and per card (`[A]`)
    the share of its episodes whose best value names it (NaN for a card no episode drew)."""
    (model, actor), (wm_params, actor_params) = nets, params
    episodes = card.shape[0]
    args = (wm_params, actor_params, carry, jnp.ones((episodes,)), key)
    traj = imagine_branches(config, spec, model, actor, *args, episodes).traj
    shape = (traj.action.shape[0], spec.action_dim, episodes)  # [H, A, E]
    split = after_split(traj.action.reshape(shape), traj.reward.reshape(shape), card)
    return split, share_by_card(jnp.argmax(values, -1) == card, card, spec.action_dim)


def share_by_card(right: jax.Array, card: jax.Array, cards: int) -> jax.Array:
    """Per card `[cards]`: the share of the episodes that drew it (`card[E]`) that are
    `right[E]`; NaN for a card none drew."""
    drew = card == jnp.arange(cards)[:, None]  # [cards, E]
    count = drew.sum(-1)
    return jnp.where(count > 0, (drew & right).sum(-1) / jnp.maximum(count, 1), jnp.nan)


def after_split(action: jax.Array, reward: jax.Array, card: jax.Array) -> jax.Array:
    """The `AFTER` split of imagined branches `action[H, A, E]` (branch `a` opens with answer
    `a`), `reward[H, A, E]`, for episodes whose first card is `card[E]`; `H` includes the
    first answer, which the split leaves out."""
    answers = jnp.arange(action.shape[1])[None, :, None]
    names, repeats = action[1:] == card, action[1:] == answers
    right = answers == card  # [1, A, E]
    wrong = ~right & jnp.ones_like(names)

    def mean(x, where):
        total = where.sum()
        return jnp.where(total > 0, (x * where).sum() / jnp.maximum(total, 1), jnp.nan)

    return jnp.stack(
        [
            mean(names, right & jnp.ones_like(names)),
            mean(names, wrong),
            mean(repeats, wrong),
            mean(reward[1:], repeats & wrong),
            mean(reward[1:], names & wrong),
        ]
    )


def edge(x: jax.Array, card: jax.Array) -> jax.Array:
    """`x[E, A]` at the right answer `card[E]` minus its mean over the wrong ones, per episode."""
    right = jnp.take_along_axis(x, card[:, None], -1)[:, 0]
    return right - (x.sum(-1) - right) / (x.shape[-1] - 1)


def probe_run(args: Args) -> list[dict]:
    """Probes every checkpoint of `args.run_dir`; one dict per checkpoint and seed."""
    run_dir = RunDir.open(args.run_dir)
    kind = evaluate.kind_of(run_dir)
    config, run, _ = load_config(kind.trainer, run_dir)
    task = getattr(config, "env_name", "")
    if kind.trainer.agent != "dreamer" or not task.startswith("RepeatFirst"):
        raise ConfigError(
            f"{run_dir.path} is a {kind.trainer.agent} run on {task}; the probe reads "
            "model-based agent (experiments.dreamer) runs on RepeatFirstEasy/Medium/Hard."
        )
    built = kind.build(config)
    probe = jax.jit(make_probe(config, built.agent.spec, args.steps, args.episodes))
    results = []
    for path in checkpoint.available(run_dir.checkpoints):
        state, _ = evaluate.restore(kind, config, run, built, path, run_dir)
        for seed in range(run.num_seeds):
            one = jax.tree.map(lambda x, i=seed: x[i], state)
            params = (one.world_model.params, one.actor.params, one.critic.params)
            table, after, by_card = probe(*params, jax.random.key(args.seed))
            results.append(
                {
                    "update": int(one.update),
                    "seed": seed,
                    "table": np.asarray(table),
                    "after": np.asarray(after),
                    "by_card": np.asarray(by_card),
                }
            )
    return results


def record(result: dict, steps: tuple[int, ...]) -> dict:
    """One checkpoint and seed as a JSON-ready record, by probed step."""
    names = ("values", "reward", "after_gap", "actor", "entropy")
    by_step = {
        str(t): {name: round(float(x), 4) for name, x in zip(names, row, strict=True)}
        for t, row in zip(steps, result["table"], strict=True)
    }
    after = {
        name: None if np.isnan(x) else round(float(x), 4)
        for name, x in zip(AFTER, result["after"], strict=True)
    }
    by_card = [None if np.isnan(x) else round(float(x), 4) for x in result["by_card"]]
    return {
        "update": result["update"],
        "seed": result["seed"],
        "steps": by_step,
        "after": after,
        "values_by_card": by_card,
    }


def main(argv: list[str] | None = None) -> None:
    args = tyro.cli(Args, args=argv, description=__doc__)
    for result in probe_run(args):
        print(json.dumps(record(result, args.steps)), flush=True)


if __name__ == "__main__":
    main()
