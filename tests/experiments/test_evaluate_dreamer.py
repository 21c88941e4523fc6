"""`experiments.evaluate` on the model-based agent's run directories, and its rollout
(agents/dreamer/evaluate.py) against a hand-written loop of `observe_step`, the actor and the
environment.

One tiny run (test_dreamer_cli's sizes, on RepeatFirstEasy with a GRU backbone, the config of the
suite test's dreamer cell, so a process that runs both compiles it once) is trained through the
command line's `main` for the whole module. Programs compile with most XLA optimisations off:
the checks need no fast machine code, and the compile is most of their time.
"""

import contextlib
import dataclasses
import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.common.environment import reset, step
from agents.common.evaluate import first_episode_trials, first_episodes
from agents.dreamer.config import DreamerConfig
from agents.dreamer.evaluate import make_evaluate, task_spec
from agents.dreamer.replay import ReplayConfig
from agents.dreamer.train import make_heads, make_world_model, policy_of
from benchmarks import first_answer
from experiments import evaluate
from experiments.dreamer import cli as dreamer
from experiments.run.serialize import ConfigError
from tests.experiments.test_dreamer_cli import TINY


def flags(args: list[str]) -> dict[str, str]:
    """`["--name", "value", ...]` -> `{"name": "value"}` (lone switches left out)."""
    pairs = [(a, b) for a, b in itertools.pairwise(args) if a.startswith("--")]
    return {a[2:]: b for a, b in pairs if not b.startswith("--")}


RUN_FLAGS = ("num-seeds", "chunk-updates", "checkpoint-every")
SUITE_FLAGS = ("num-envs", "total-timesteps", "core-size", "state-size")
DEFAULTS = DreamerConfig()


def typed(name: str, value: str):
    """A DreamerConfig (or its ReplayConfig's, `replay.NAME`) field's value from its flag."""
    config, field = (ReplayConfig(), name[7:]) if name.startswith("replay.") else (DEFAULTS, name)
    return type(getattr(config, field))(value)


DREAMER_OPTIONS = {
    name.replace("-", "_"): typed(name.replace("-", "_"), value)
    for name, value in flags(TINY).items()
    if name not in RUN_FLAGS + SUITE_FLAGS
}
"""test_dreamer_cli's tiny sizes as the suite's `dreamer_options` (the rest the suite sets)."""
CELL = {"env-name": "RepeatFirstEasy", "core": "gru", "core-size": "8", "state-size": "8"}
CELL |= {"num-envs": "2", "total-timesteps": "128", "num-seeds": "2", "chunk-updates": "2"}
CELL |= {"checkpoint-every": "8"}
"""The suite test's dreamer cell (`hidden_size=8`, 2 envs x 128 steps, 2 seeds, chunks of 2)."""
ITERATIONS = 128 // (2 * int(flags(TINY)["act-steps"]))


@contextlib.contextmanager
def unoptimised():
    """Programs compiled inside compile without most XLA optimisations (about half the time)."""
    before = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)


def trained_args(*extra: str) -> dreamer.TrainArgs:
    """The tiny run's parsed command line (test_dreamer_cli's flags with `CELL`'s)."""
    values = flags(TINY) | CELL
    args = [item for name, value in values.items() for item in (f"--{name}", value)]
    return dreamer.parse([*args, "--no-progress", *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny run, in a folder whose name suggests another agent (config.json tells),
    whose checkpoints leave the replay out (evaluation restores them all the same)."""
    run_dir = tmp_path_factory.mktemp("runs") / "ppo-s5"
    with unoptimised():
        result = dreamer.main(trained_args("--run-dir", str(run_dir), "--no-checkpoint-replay"))
    assert result.status == "finished"
    return run_dir


def test_evaluate_reads_a_dreamer_run_dir(trained):
    with unoptimised():
        results = evaluate.evaluate_run(evaluate.EvalArgs(trained, episodes=3, greedy=True))
    assert results["agent"] == "dreamer" and results["update"] == ITERATIONS
    assert results["task"] == "RepeatFirstEasy" and results["max_steps"] == 52
    assert [s["episodes"] for s in results["per_seed"]] == [3, 3]
    returns = np.concatenate([s["returns"] for s in results["per_seed"]])
    assert np.all(np.abs(returns) <= 1.0) and results["per_seed"][0]["length_mean"] == 51
    np.testing.assert_allclose(returns * 51, np.round(returns * 51), atol=1e-4)  # +-1/51 steps
    seed = results["per_seed"][1]
    se = np.std(seed["returns"], ddof=1) / np.sqrt(3)
    assert seed["return_se"] == pytest.approx(se)
    saved = json.loads((trained / "eval" / "RepeatFirstEasy-greedy-000000016.json").read_text())
    assert saved["return_mean"] == pytest.approx(returns.mean()) and saved["agent"] == "dreamer"
    other = evaluate.EvalArgs(trained, env_name="CartPole-v1")
    with pytest.raises(ConfigError, match="does not fit the trained policy"):
        evaluate.evaluate_run(other)


def test_evaluate_refuses_runs_of_other_trainers(tmp_path):
    run_dir = tmp_path / "dreamer-run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"agent": "world_model", "run": {}}))
    with pytest.raises(ConfigError, match=r"agent='world_model'.*world_model_eval"):
        evaluate.evaluate_run(evaluate.EvalArgs(run_dir))


TRIALS, TRIAL_LENGTH, ENVS, STEPS = 2, 4, 8, 10
META = DreamerConfig(
    env_name="MetaControl-train",
    env_options={"num_trials": TRIALS, "trial_length": TRIAL_LENGTH},
    core="gru",
    core_size=8,
    replay=ReplayConfig(**{k[7:]: v for k, v in DREAMER_OPTIONS.items() if "." in k}),
    **{k: v for k, v in DREAMER_OPTIONS.items() if "." not in k},
)
"""The tiny sizes on a meta-RL task of continuous actions (each a smooth function of the
filtered state, so any drift of the filter shows in them), 2 trials of at most 4 steps."""


def host_play(config: DreamerConfig, params, key):
    """The policy step by step on the host: `observe_step` with the action that led to each
    observation (zeros at a start), the actor's sample, the environment; the same key splits
    as the rollout. Returns actions `[T, B, A]`, rewards and episode ends `[T, B]`, and the
    first episode's return per trial `[B, K]` (trials counted from `info["trial_start"]`)."""
    spec = task_spec(config.env_name, config.env_options)
    model, (actor, _) = make_world_model(config, spec), make_heads(config, spec)
    wm_params, actor_params = params
    observe = jax.jit(model.observe_step)
    sample = jax.jit(
        lambda f, k: policy_of(spec, actor, actor_params, config.actor_unimix)(f).sample(seed=k)
    )
    env_step = jax.jit(lambda k, s, a: step(spec, k, s, a))
    key, reset_key = jax.random.split(key)
    obs, env_state = jax.jit(lambda k: reset(spec, k, ENVS))(reset_key)
    carry, start = model.initial_carry(ENVS), np.ones(ENVS, bool)
    last = np.zeros((ENVS, spec.action_dim), np.float32)
    actions, rewards, ends = [], [], []
    by_trial, trial, finished = np.zeros((ENVS, TRIALS)), np.zeros(ENVS, int), np.zeros(ENVS, bool)
    for _ in range(STEPS):
        key, act_key, step_key = jax.random.split(key, 3)
        obs_key, action_key = jax.random.split(act_key)
        previous = jnp.asarray(np.where(start[:, None], 0.0, last))
        carry, posterior, _ = observe(wm_params, carry, obs, previous, jnp.asarray(start), obs_key)
        features = posterior.features
        if config.first_flag:  # the actor also reads whether the step opens an episode
            features = jnp.concatenate([features, jnp.asarray(start, jnp.float32)[:, None]], -1)
        action = np.asarray(sample(features, action_key))
        obs, env_state, reward, terminated, truncated, info = env_step(step_key, env_state, action)
        reward, start = np.asarray(reward), np.asarray(terminated | truncated)
        for b in np.nonzero(~finished)[0]:
            by_trial[b, trial[b]] += reward[b]
        trial += np.asarray(info["trial_start"], int)
        finished |= start
        actions.append(action), rewards.append(reward), ends.append(start)
        last = action
    return np.array(actions), np.array(rewards), np.array(ends), by_trial


@pytest.mark.parametrize("first_flag", [False, True])
def test_rollout_matches_a_host_loop_on_a_meta_task(first_flag):
    config = dataclasses.replace(META, first_flag=first_flag)
    spec = task_spec(config.env_name, config.env_options)
    model, (actor, _) = make_world_model(config, spec), make_heads(config, spec)
    width = model.config.stoch_size + model.config.deter_size + first_flag
    features = jnp.zeros((1, width))

    def init(key):
        wm_key, actor_key = jax.random.split(key)
        return model.init(wm_key), actor.init(actor_key, features)

    key = jax.random.key(7)
    with unoptimised():
        params = jax.jit(init)(jax.random.key(5))
        evaluate_fn = jax.jit(make_evaluate(config, spec), static_argnums=(2, 3))
        result = evaluate_fn(params, key, ENVS, STEPS)
        actions, rewards, ends, by_trial = host_play(config, params, key)
    np.testing.assert_allclose(result.action, actions, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.rewards, rewards, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(result.completed, ends)
    returns, _, done = first_episodes(result)
    trials, _ = first_episode_trials(result, TRIALS)
    assert np.all(done) and np.all(np.asarray(trials) != 0)  # both trials of each episode count
    np.testing.assert_allclose(trials, by_trial, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(trials).sum(axis=1), returns, rtol=1e-4, atol=1e-5)


def test_the_first_answer_probe_reads_every_checkpoint_and_seed(trained):
    args = first_answer.Args(trained, steps=(0, 3), episodes=16)
    with unoptimised():
        results = first_answer.probe_run(args)
    saved = sorted(p.name for p in (trained / "checkpoints").iterdir() if p.name.isdigit())
    assert [(r["update"], r["seed"]) for r in results] == [
        (int(name), seed) for name in saved for seed in (0, 1)
    ]
    for result in results:
        table = result["table"]
        assert table.shape == (2, 5)  # values, reward, after_gap, actor, entropy
        shares = table[:, [0, 1, 3]] * 16  # shares of 16 episodes
        np.testing.assert_allclose(shares, np.round(shares), atol=1e-5)
        assert ((shares >= 0) & (shares <= 16)).all()
        assert np.isfinite(table[:, 2]).all()
        assert ((table[:, 4] >= 0) & (table[:, 4] <= np.log(4) + 1e-5)).all()
    for seed0, seed1 in zip(results[::2], results[1::2], strict=True):  # each seed's own
        assert not np.array_equal(seed0["table"], seed1["table"])
    shown = first_answer.record(results[0], args.steps)
    assert set(shown["steps"]) == {"0", "3"}
    assert shown["steps"]["3"]["entropy"] == pytest.approx(results[0]["table"][1, 4], abs=1e-4)
    assert shown["steps"]["0"]["after_gap"] == pytest.approx(results[0]["table"][0, 2], abs=1e-4)
    assert set(shown["after"]) == set(first_answer.AFTER)
    shares = results[0]["after"][:3]
    assert ((shares >= 0) & (shares <= 1)).all()
    by_card, drawn = results[0]["by_card"], ~np.isnan(results[0]["by_card"])
    assert by_card.shape == (4,) and ((by_card[drawn] >= 0) & (by_card[drawn] <= 1)).all()
    assert len(shown["values_by_card"]) == 4


def test_the_probes_after_split_against_a_hand_counted_case():
    later = {  # (first card, first answer): the actor's two later answers
        (0, 0): [0, 1], (0, 1): [1, 0], (0, 2): [2, 2],
        (2, 0): [0, 2], (2, 1): [2, 2], (2, 2): [2, 2],
    }  # fmt: skip
    card = jnp.array([0, 2])
    action = np.zeros((3, 3, 2), np.int32)  # [H, A, E]
    for (c, a), answers in later.items():
        action[:, a, [0, 2].index(c)] = [a, *answers]
    h, a, e = np.meshgrid(range(3), range(3), range(2), indexing="ij")
    reward = 10.0 * h + a + 0.1 * e
    split = first_answer.after_split(jnp.asarray(action), jnp.asarray(reward), card)
    np.testing.assert_allclose(
        split,
        [3 / 4, 4 / 8, 4 / 8, (11 + 12 + 22 + 10.1) / 4, (21 + 20.1 + 11.1 + 21.1) / 4],
        rtol=1e-6,
    )
    action[1:] = np.arange(3)[None, :, None]  # every later answer repeats the first one
    split = first_answer.after_split(jnp.asarray(action), jnp.asarray(reward), card)
    assert split[2] == 1 and np.isnan(split[4])  # after a wrong answer, never the card
    result = {"update": 1, "seed": 0, "table": np.zeros((0, 5)), "after": split}
    shown = first_answer.record({**result, "by_card": np.array([1.0, np.nan])}, ())
    assert shown["values_by_card"] == [1.0, None]
    assert shown["after"]["reward_of_names"] is None
    assert shown["after"]["repeats_wrong"] == 1


def test_the_probes_shares_by_card_against_a_hand_counted_case():
    card = jnp.array([0, 0, 0, 2, 2, 3])
    right = jnp.array([True, False, True, True, True, False])
    shares = np.asarray(first_answer.share_by_card(right, card, 4))
    np.testing.assert_allclose(shares[[0, 2, 3]], [2 / 3, 1.0, 0.0], rtol=1e-6)
    assert np.isnan(shares[1])


def test_the_probes_edge_is_the_right_answers_lead_over_the_mean_wrong_one():
    x = jnp.array([[1.0, 2.0, 3.0, 4.0], [4.0, 0.0, 0.0, 1.0]])
    np.testing.assert_allclose(
        first_answer.edge(x, jnp.array([2, 0])), [3 - 7 / 3, 4 - 1 / 3], rtol=1e-6
    )


def test_the_first_answer_probe_refuses_other_tasks(trained, tmp_path):
    other = tmp_path / "run"
    other.mkdir()
    record = json.loads((trained / "config.json").read_text())
    record["dreamer"]["env_name"] = "RepeatPreviousEasy"
    (other / "config.json").write_text(json.dumps(record))
    with pytest.raises(ConfigError, match="RepeatFirstEasy/Medium/Hard"):
        first_answer.probe_run(first_answer.Args(other))
