"""The model-based agent as pure functions: `make_train(config) -> train(key)`, one jit.

Axis names: `N` seeds, `B` environments, `K` acting steps per iteration, `T` replayed window
steps, `batch` windows per update, `horizon` imagined steps, `F` the actor's and critic's
features (`S + H`, more with `features="full"`), `A` actions. One iteration (`update`):

1. act `K` steps in `B` environments: the world model filters every observation with
   `observe_step` (one carry per environment, reset by `start`, the recurrence it trains with),
   the actor samples from the features; the rows go to the replay ring with the carry before
   each (for windows that start from a stored carry);
2. run `updates_per_iteration` updates (once the ring holds a window): the world model's own
   `loss` on replayed windows, then imagination of `horizon` steps with the actor from every
   posterior state of those windows, lambda-returns, critic and actor losses.

Rows follow the world models' convention (`action[t]` led to `obs[t]`, `reward[t]` and
`terminated[t]` came with it, `start[t]` opens an episode). An episode that ends writes its last
observation (`info["final_observation"]`) with the final reward and flags, then, on the next
step, the auto-reset observation as a row of its own with `start` (DreamerV3's replay): that
environment does not step then, so the world model sees terminal states and learns `continue`.
"""

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

import rlssm.world_models as wm
from agents.common import (
    Split,
    all_finite,
    keep_if_finite,
    no_split,
    nonfinite_streak,
    require,
    split_tree,
)
from agents.common.environment import EnvSpec, make_env, reset, step
from agents.common.episodes import episode_metrics
from agents.dreamer import replay
from agents.dreamer.actor import (
    START_GRADIENTS,
    FirstStepActor,
    actor_loss,
    actor_optimizer,
    bounded_normal_policy,
    categorical_policy,
)
from agents.dreamer.config import DreamerConfig
from agents.dreamer.critic import critic_loss_grad, ema_update
from agents.dreamer.features import reader
from agents.dreamer.return_norm import ReturnScale, init_return_scale, scale, update_return_scale
from agents.dreamer.returns import discount_weights, lambda_returns
from agents.world_model import (
    TrainState,
    apply_gradients,
    init_train_state,
    make_optimizer,
    make_optimizer_step,
)
from rlssm.world_models.networks import MLP, merge_leading, split_leading


class Acting(NamedTuple):
    """The environments and the filter between iterations; every leaf leads with `B`."""

    env_state: Any
    obs: Float[Array, "B D"]
    """The observation of the next row (not yet filtered)."""
    action: Array
    """Action that led to `obs` (`[B]` int or `[B, A]`; zeros at a start)."""
    reward: Float[Array, " B"]
    terminated: Bool[Array, " B"]
    start: Bool[Array, " B"]
    ended: Bool[Array, " B"]
    """The row `obs` ends an episode: the next row is `reset_obs`, the environment holds."""
    reset_obs: Float[Array, "B D"]
    """The auto-reset observation waiting behind an ended row."""
    carry: wm.WorldModelCarry
    """The world model's carry before `obs`."""


class DreamerState(NamedTuple):
    """The whole loop state of one seed (checkpointed whole, replay included)."""

    world_model: TrainState
    actor: TrainState
    critic: TrainState
    slow_critic: Any
    """Parameters of the slow (EMA) critic."""
    return_scale: ReturnScale
    replay: replay.ReplayState
    acting: Acting
    key: jax.Array
    update: jax.Array
    """Iterations run so far (int32 scalar)."""
    nonfinite_streak: jax.Array
    """Iterations in a row with a non-finite loss or gradient (int32 scalar)."""


class Learner(NamedTuple):
    """The parts of `DreamerState` that an update changes."""

    world_model: TrainState
    actor: TrainState
    critic: TrainState
    slow_critic: Any
    return_scale: ReturnScale


def learner(state: DreamerState) -> Learner:
    """The learnt parts of `state`."""
    return Learner(*(getattr(state, name) for name in Learner._fields))


class Imagined(NamedTuple):
    """An imagined trajectory from `N` start states, time-major, without gradient."""

    features: Float[Array, "horizon+1 N F"]
    """Features of `s_0 .. s_horizon` (`s_0` the posterior start state)."""
    action: Array
    """Actions taken in `s_0 .. s_{horizon-1}` (`[horizon, N]` int or `[horizon, N, A]`)."""
    reward: Float[Array, "horizon N"]
    continues: Float[Array, "horizon N"]


class Replayed(NamedTuple):
    """The replayed windows as transitions `s_t -> s_{t+1}`, `t < T - 1`, for the actor's
    replay term (`DreamerConfig.actor_replay_scale`); without gradient."""

    features: Float[Array, "T-1 b F"]
    """Features of the posterior states `s_t`."""
    action: Array
    """The action taken in `s_t` (`[T - 1, b]` int or `[T - 1, b, A]`): row `t + 1`'s."""
    advantage: Float[Array, "T-1 b"]
    """`(R_t - v(s_t)) / scale`: TD(lambda) returns of the real rewards."""
    weight: Float[Array, "T-1 b"]
    """0 where row `t + 1` opens the next episode (no action taken in between), else 1."""


class Agent(NamedTuple):
    """The pieces of one configuration; every function is pure and jittable (one seed)."""

    config: DreamerConfig
    spec: EnvSpec
    model: wm.WorldModel
    init: Callable[[jax.Array], DreamerState]
    update: Callable[[DreamerState], tuple[DreamerState, dict]]
    run: Callable[[DreamerState, int], tuple[DreamerState, dict]]


def make_world_model(config: DreamerConfig, spec: EnvSpec) -> wm.WorldModel:
    """The world model of `config` for vector observations `[D]` and the task's actions."""
    fields = set(wm.backbone_config(config.core).__dataclass_fields__)
    sizes = {"hidden_size": config.core_size, "num_layers": config.core_layers}
    sizes["state_size"] = config.state_size
    options = {k: v for k, v in sizes.items() if k in fields}
    return wm.make(
        config.model,
        core=wm.backbone_config(config.core, **options),
        obs_shape=(spec.obs_size,),
        action_dim=spec.action_dim,
        hidden_size=config.hidden_size,
        latent_groups=config.latent_groups,
        latent_classes=config.latent_classes,
        recon_scale=config.recon_scale,
        reward_scale=config.reward_loss_scale,
        reward_head=config.reward_head,
    )


def make_heads(config: DreamerConfig, spec: EnvSpec) -> tuple[nn.Module, nn.Module]:
    """The actor (`A` logits, or `2 A` for a bounded normal) and the critic (value bins)."""
    out = spec.action_dim if spec.discrete else 2 * spec.action_dim
    if config.first_head:  # a second network for the first step
        actor = FirstStepActor(config.hidden_size, config.head_layers, out)
    else:
        actor = MLP(config.hidden_size, config.head_layers, jax.nn.silu, out)
    critic = MLP(config.hidden_size, config.head_layers, jax.nn.silu, config.value_bins, True)
    return actor, critic


def on_rows(head: nn.Module, params, features: Float[Array, "... F"]) -> Array:
    """`head` on `features` with every leading axis merged into one row axis (`B` outermost,
    so a split over devices stays): the kernels' gradients of `[horizon + 1, N, F]` inputs
    would contract two axes, which XLA's CPU backend runs much slower than one."""
    rows, lead = merge_leading(features, 1)
    return split_leading(head.apply(params, rows), lead)


def policy_of(spec: EnvSpec, actor: nn.Module, params, unimix: float) -> Callable:
    """`features[..., F] -> distribution` of the actor with `params` (a categorical with
    `unimix` of the uniform mixed in, or the bounded normal)."""
    if spec.discrete:
        return lambda features: categorical_policy(on_rows(actor, params, features), unimix)
    return lambda features: bounded_normal_policy(on_rows(actor, params, features))


def make_act(config: DreamerConfig, spec: EnvSpec, model: wm.WorldModel, actor: nn.Module):
    """Returns `act(state) -> (acting, rows [K, B], carries before them [K, B], step info
    [K, B], held [K, B], key)`; `held` marks the reset rows, whose environment did not step."""

    read = reader(config.features, config.first_flag)

    def act_step(params, acting: Acting, key):
        wm_params, actor_params = params
        obs_key, action_key, env_key = jax.random.split(key, 3)
        row = wm.Batch(acting.obs, acting.action, acting.reward, acting.terminated, acting.start)
        carry, _, _ = model.observe_step(
            wm_params, acting.carry, row.obs, row.action, row.start, obs_key
        )
        features = read(carry, row.start)
        action = policy_of(spec, actor, actor_params, config.actor_unimix)(features).sample(
            seed=action_key
        )
        if config.first_explore > 0:  # off: the action stream of DreamerV3's acting, unchanged
            action = explore_first(
                jax.random.fold_in(action_key, 1),
                action,
                row.start,
                spec.action_dim,
                config.first_explore,
            )
        action = action.astype(acting.action.dtype)
        obs, env_state, reward, terminated, truncated, info = step(
            spec, env_key, acting.env_state, action
        )
        reward = reward * config.reward_scale  # the episode statistics in `info` stay unscaled
        after = next_rows(
            acting, carry, action, obs, env_state, reward, terminated, truncated, info
        )
        return after, (row, acting.carry, info, after.start)

    def act(state: DreamerState):
        params = (state.world_model.params, state.actor.params)
        keys = jax.random.split(state.key, config.act_steps + 1)
        acting, (rows, before, info, held) = jax.lax.scan(
            lambda acting, key: act_step(params, acting, key), state.acting, keys[1:]
        )
        return acting, rows, before, info, held, keys[0]

    return act


def explore_first(
    key: PRNGKeyArray, action: Int[Array, " B"], start: Bool[Array, " B"], actions: int, rate: float
) -> Int[Array, " B"]:
    """Per environment `B`: on an episode's first step (`start`), with probability `rate`, a
    uniform action of `actions` instead of `action` (`DreamerConfig.first_explore`)."""
    swap_key, pick_key = jax.random.split(key)
    swap = start & (jax.random.uniform(swap_key, start.shape) < rate)
    uniform = jax.random.randint(pick_key, action.shape, 0, actions, action.dtype)
    return jnp.where(swap, uniform, action)


def select(mask: Bool[Array, " B"], new, old):
    """Per environment: `new` where `mask`, else `old` (any pytree with leading `B`)."""

    def pick(a, b):
        return jnp.where(mask.reshape(-1, *([1] * (a.ndim - 1))), a, b)

    return jax.tree.map(pick, new, old)


def next_rows(acting: Acting, carry, action, obs, env_state, reward, terminated, truncated, info):
    """The next row of every environment: a step's result, or the reset observation that waits
    behind an ended row (the environment then holds)."""
    hold = acting.ended
    ended = terminated | truncated
    last_obs = select(ended, info["final_observation"], obs)
    zero_action = jnp.zeros_like(action)
    return Acting(
        env_state=select(hold, acting.env_state, env_state),
        obs=select(hold, acting.reset_obs, last_obs),
        action=select(hold, zero_action, action),
        reward=jnp.where(hold, 0.0, reward).astype(jnp.float32),
        terminated=~hold & terminated,
        start=hold,
        ended=~hold & ended,
        reset_obs=select(~hold & ended, obs, acting.reset_obs),
        carry=carry,
    )


def make_init(config: DreamerConfig, spec: EnvSpec, model, actor, critic, optimizers):
    """Returns `init(key) -> DreamerState` of one seed."""
    wm_opt, actor_opt, critic_opt = optimizers

    def init(key: jax.Array) -> DreamerState:
        key, wm_key, actor_key, critic_key, env_key = jax.random.split(key, 5)
        features = reader(config.features, config.first_flag)(model.initial_carry(1))
        actor_params = actor.init(actor_key, features)
        critic_params = critic.init(critic_key, features)
        obs, env_state = reset(spec, env_key, config.num_envs)
        action = (
            jnp.zeros((config.num_envs,), jnp.int32)
            if spec.discrete
            else jnp.zeros((config.num_envs, spec.action_dim), jnp.float32)
        )
        false = jnp.zeros((config.num_envs,), bool)
        acting = Acting(
            env_state,
            obs,
            action,
            jnp.zeros((config.num_envs,), jnp.float32),
            false,
            ~false,
            false,
            obs,
            model.initial_carry(config.num_envs),
        )
        example = wm.Batch(obs[0], action[0], jnp.float32(0), false[0], false[0])
        carry = jax.tree.map(lambda x: x[0], acting.carry) if config.replay.stores_carry else None
        zero = jnp.zeros((), jnp.int32)
        state = DreamerState(
            world_model=init_train_state(model, wm_opt, wm_key),
            actor=TrainState(actor_params, actor_opt.init(actor_params), zero),
            critic=TrainState(critic_params, critic_opt.init(critic_params), zero),
            slow_critic=critic_params,
            return_scale=init_return_scale(),
            replay=replay.init(config.replay.capacity, config.num_envs, example, carry),
            acting=acting,
            key=key,
            update=zero,
            nonfinite_streak=zero,
        )
        return strong_types(state)

    return init


def strong_types(tree):
    """`tree` without weak types (keys as they are). A task's reset can leave a weakly typed
    leaf (gymnax Pendulum's `last_u = 0.0`) that every step makes strong: the initial state must
    already have the types `update` returns, or a jitted `update` traces and compiles twice
    (and a checkpoint restored through `eval_shape(init)` would differ from the live state)."""

    def strong(x):
        return x if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x.astype(x.dtype)

    return jax.tree.map(strong, tree)


def filter_carries(model: wm.WorldModel, params, carry, batch: wm.Batch, key) -> Any:
    """The carry after every step of `batch` (`[T, batch]` leaves), by `observe_step`: the
    posterior states imagination starts from (the memory core's state included)."""
    keys = jax.random.split(key, batch.start.shape[0])

    def body(carry, inputs):
        obs, action, start, step_key = inputs
        carry, _, _ = model.observe_step(params, carry, obs, action, start, step_key)
        return carry, carry

    _, carries = jax.lax.scan(body, carry, (batch.obs, batch.action, batch.start, keys))
    return carries


def imagine(
    config, spec, model, actor, wm_params, actor_params, starts, key, first=None, horizon=None
) -> Imagined:
    """Imagines `horizon` steps (None: `config.horizon`) with the actor from every start carry
    (`first[N]`: the starts that open an episode, for `first_flag`). Differentiable with
    respect to `actor_params` through reparameterised continuous actions (dynamics
    backpropagation); callers stop the gradient where none should flow."""
    policy = policy_of(spec, actor, actor_params, config.actor_unimix)

    def act(features, policy_key):
        return policy(features).sample(seed=policy_key)

    read = reader(config.features, config.first_flag)
    horizon = config.horizon if horizon is None else horizon
    _, imagined = model.imagine(wm_params, starts, act, key, horizon, policy_features=read)
    features = jnp.concatenate([read(starts, first)[None], imagined.features], 0)
    action = jnp.argmax(imagined.action, -1) if spec.discrete else imagined.action
    return Imagined(features, action, imagined.reward, imagined.continue_prob)


def action_values(config, spec, model, critic, wm_params, critic_params, starts, key):
    """`q[N, A]`: the value of taking each action `a` in each start state, one imagined step:
    `reward + gamma * continue * v(next)` with the critic's value `v` (what `lambda_returns`
    gives over a horizon of 1; discrete actions). Every action meets the same latent draw, that
    of `key`'s first step, which the trajectory imagined with the same `key` splits for its
    policy."""
    reward, continuation = action_value_terms(
        config, spec, model, critic, wm_params, critic_params, starts, key
    )
    return reward + continuation


def action_value_terms(config, spec, model, critic, wm_params, critic_params, starts, key):
    """`action_values`' two terms, `(reward[N, A], gamma * continue * v(next) [N, A])`."""
    values = wm.TwoHotReward(config.value_bins)
    read = reader(config.features, config.first_flag)
    count = jax.tree.leaves(starts)[0].shape[0]

    def terms_of(action):
        actions = jnp.full((1, count), action, jnp.int32)
        _, step = model.imagine(wm_params, starts, actions, key, policy_features=read)
        next_value = values.mean(on_rows(critic, critic_params, step.features[0]))
        return step.reward[0], config.gamma * step.continue_prob[0] * next_value

    return jax.vmap(terms_of, out_axes=1)(jnp.arange(spec.action_dim))


class Branches(NamedTuple):
    """Imagination from `M` of the starts that open an episode, once per first action
    (`DreamerConfig.first_branches`); without gradient."""

    traj: Imagined
    """`[horizon + 1, A M]` (action-major: row `a M + m` takes action `a` in start `m`)."""
    index: Int[Array, " M"]
    """Each branched start's row among the `N` starts; `N` marks an unused slot."""


def imagine_branches(
    config,
    spec,
    model,
    actor,
    wm_params,
    actor_params,
    starts,
    first: Float[Array, " N"],
    key,
    slots: int | None = None,
) -> Branches:
    """From up to `slots` (by default `first_branches`) of the starts that open an episode
    (`first` 1, in row order), the trajectory of every first action `a`: `a`, then `horizon -
    1` steps of the actor. Every action meets the same latent and policy draws (the same keys),
    so the branches differ by their first action alone."""
    count, slots = first.shape[0], slots or config.first_branches
    index = jnp.nonzero(first > 0, size=slots, fill_value=count)[0]
    picked = jax.tree.map(lambda x: jnp.take(x, index, axis=0, mode="clip"), starts)
    read = reader(config.features, config.first_flag)
    step_key, rest_key = jax.random.split(key)
    head = read(picked, jnp.ones((slots,), jnp.float32))[None]

    def branch(action) -> Imagined:
        actions = jnp.full((1, slots), action, jnp.int32)
        carry, step = model.imagine(wm_params, picked, actions, step_key, policy_features=read)
        opened = Imagined(
            jnp.concatenate([head, step.features]), actions, step.reward, step.continue_prob
        )
        if config.horizon == 1:
            return opened
        args = (wm_params, actor_params, carry, rest_key)
        rest = imagine(config, spec, model, actor, *args, horizon=config.horizon - 1)
        rest = rest._replace(features=rest.features[1:])  # [0]: the state after `a` again
        return join(opened, rest, 0)

    per_action = jax.vmap(branch, out_axes=1)(jnp.arange(spec.action_dim))  # [H(+1), A, M]
    flat = jax.tree.map(lambda x: x.reshape(x.shape[0], -1, *x.shape[3:]), per_action)
    return Branches(jax.lax.stop_gradient(flat), index)


def join(traj: Imagined, more: Imagined, axis: int = 1) -> Imagined:
    """Two imagined trajectories side by side: their starts (`axis` 1, `[horizon(+1), N +
    N']`) or, `axis` 0, `more`'s steps after `traj`'s."""
    return jax.tree.map(lambda a, b: jnp.concatenate([a, b], axis), traj, more)


def branch_weights(
    weight: Float[Array, "horizon N+AM"], count: int, branches: Branches
) -> Float[Array, "horizon N+AM"]:
    """The critic's weights of the starts' trajectories (the first `count` columns) and the
    branches', with the branches' unused slots and their start states (the starts themselves,
    trained once already) at 0."""
    used = (branches.index < count).astype(weight.dtype)
    used = jnp.tile(used, weight[:, count:].shape[1] // used.shape[0])
    return weight.at[:, count:].set(weight[:, count:].at[0].set(0.0) * used)


def replayed_windows(
    config: DreamerConfig, model, state: DreamerState, key, split: Split = no_split
):
    """`(batch [T, batch], carry [batch])`: replayed windows and the carry to observe them from
    (the stored carry refreshed by the burn-in, or the model's initial carry); `split` lays the
    sampled rows over devices (agents.common.devices)."""
    sample_key, burn_in_key = jax.random.split(key)
    replayed = replay.sample_with_context(
        config.replay, state.replay, sample_key, config.batch_size
    )
    carry = split_tree(split, replayed.carry, 0)
    if carry is None:
        carry = model.initial_carry(config.batch_size)
    if replayed.burn_in is not None:
        b = split_tree(split, replayed.burn_in, 1)
        params = state.world_model.params
        carry = model.observe(params, carry, b.obs, b.action, b.start, burn_in_key)[0]
        carry = jax.lax.stop_gradient(carry)
    return split_tree(split, replayed.batch, 1), carry


def make_critic_update(config: DreamerConfig, critic: nn.Module, values, critic_opt):
    """Returns `critic_update(state, rows, logits, critic_vjp, returns, weight) -> (critic_state,
    metrics)`: one critic step from its logits on every imagined state (`rows`, `[rows, K]`)
    and their vjp, so the critic runs forward once per update; the regulariser's targets are
    the slow critic's values of the same rows, and the bootstrap rows get no weight."""

    def critic_update(state: DreamerState, rows, logits, critic_vjp, returns, weight):
        slow = values.mean(critic.apply(state.slow_critic, rows))
        targets = (state_rows(returns), slow, state_rows(weight))
        reg, count = config.slow_critic_reg, returns.size
        loss, logit_grads = critic_loss_grad(values, logits, *targets, reg, count)
        (grads,) = critic_vjp(logit_grads)
        return apply_gradients(state.critic, grads, critic_opt, {"critic_loss": loss})

    return critic_update


def state_rows(x: Float[Array, "horizon N"]) -> Float[Array, " rows"]:
    """Per-state targets `[horizon, N]` -> one per row of `merge_leading` on the `horizon + 1`
    imagined states, 0 on the last (bootstrap) state, which the critic's loss does not train."""
    return merge_leading(jnp.concatenate([x, jnp.zeros_like(x[:1])]), 0)[0]


def imagined_returns(config: DreamerConfig, traj: Imagined, value) -> Float[Array, "horizon N"]:
    """The lambda-returns of an imagined trajectory with the critic's values `[horizon + 1, N]`."""
    return lambda_returns(traj.reward, value, traj.continues, config.gamma, config.lambda_)


def make_actor_critic_step(config: DreamerConfig, spec: EnvSpec, model, actor, critic, opts):
    """Returns `step(state, wm_params, starts, start_flags, key, windows=None) -> (actor,
    critic, return_scale, metrics)`: imagination from `starts` (`[N]` carries; `start_flags`
    `(terminated, first)`, `[N]` floats: no weight from a terminal start, `reset_entropy` from
    first rows), lambda-returns, one actor and one critic update; `windows`, the replayed
    `[T, b]` rows whose states are the starts (`N = T b`), for the actor's replay term."""
    actor_opt, critic_opt = opts
    values = wm.TwoHotReward(config.value_bins)
    critic_update = make_critic_update(config, critic, values, critic_opt)
    policy = functools.partial(policy_of, spec, actor, unimix=config.actor_unimix)
    heads = (actor, critic)

    def step(state: DreamerState, wm_params, starts, start_flags, key, windows=None):
        start_terminated, start_first = start_flags

        def trajectory(actor_params):
            args = (wm_params, actor_params, starts, key, start_first)
            return imagine(config, spec, model, actor, *args)

        traj = jax.lax.stop_gradient(trajectory(state.actor.params))
        params = (state.actor.params, state.critic.params, wm_params)
        args = (config, spec, model, heads, params, starts, start_first, key)
        first, start_rows, branches = start_values(*args)
        both = traj if branches is None else join(traj, branches.traj)
        rows, logits, critic_vjp, all_value = critic_forward(critic, values, state, both.features)
        all_returns = imagined_returns(config, both, all_value)
        all_weight = imagined_weights(config, both, start_terminated, branches)
        count = traj.reward.shape[1]  # the trajectories from the starts; then the branches'
        value, returns, weight = (x[:, :count] for x in (all_value, all_returns, all_weight))
        # The replay term reads the starts' features and values again (None without windows).
        replayed = replayed_terms(config, traj.features[0], value[0], windows, state.return_scale)
        actor_weight = first_row_weights(weight, start_first, config.first_row_weight)
        return_scale = update_return_scale(state.return_scale, returns)

        def actor_objective(params):
            dist = policy(params)(traj.features[:-1])
            target = returns
            if config.actor_gradient == "backprop":  # the same trajectory, differentiable
                again = trajectory(params)
                target = backprop_returns(config, critic, values, state.critic.params, again)
            log_prob, entropy = dist.log_prob(traj.action), dist.entropy()
            every = None if first is None else (dist.probs[0], first)
            loss, metrics = actor_loss(
                log_prob, entropy, target, value[:-1], actor_weight, scale(return_scale),
                config.actor_gradient, config.entropy_coef, every, config.target_temperature,
                start_rows,
            )  # fmt: skip
            if replayed is not None:  # `actor_replay_scale`'s term
                loss -= config.actor_replay_scale * replay_objective(policy(params), replayed)
            return loss, {**metrics, "reset_entropy": first_rows_mean(entropy[0], start_first)}

        grads, actor_metrics = jax.grad(actor_objective, has_aux=True)(state.actor.params)
        actor_state, actor_metrics = apply_gradients(state.actor, grads, actor_opt, actor_metrics)
        critic_state, critic_metrics = critic_update(
            state, rows, logits, critic_vjp, all_returns, all_weight
        )
        metrics = imagination_metrics(value, returns, return_scale, actor_metrics, critic_metrics)
        return actor_state, critic_state, return_scale, metrics

    return step


def imagined_weights(
    config: DreamerConfig, traj: Imagined, terminated: Float[Array, " N"], branches
) -> Float[Array, "horizon N+AM"]:
    """The loss weights of the imagined states (the `N` starts' trajectories, then any
    branches'): `discount_weights`, none from a terminal start (its future was never seen:
    DreamerV3's first `cont`), and `branch_weights` on the branches."""
    count = terminated.shape[0]
    weight = discount_weights(traj.continues, config.gamma)
    weight = weight.at[:, :count].multiply(1.0 - terminated)
    return weight if branches is None else branch_weights(weight, count, branches)


def start_values(config, spec, model, heads, params, starts, start_first, key):
    """`(first, start_rows, branches)` for `actor_loss` (None, None, None for a gradient that
    values no start's actions): every action's value at the starts, the rows whose term it
    replaces, and `first_branches`' trajectories. `heads`: (actor, critic); `params`: (actor,
    critic, world model) parameters."""
    if config.actor_gradient not in START_GRADIENTS:
        return None, None, None
    (actor, critic), (actor_params, critic_params, wm_params) = heads, params
    args = (config, spec, model, critic, wm_params, critic_params, starts, key)
    start_rows = start_first if config.start_gradient_rows == "first" else None
    branches = None
    if config.first_branches > 0:  # its own key: the trajectory's draws stay as they were
        args_b = (wm_params, actor_params, starts, start_first, jax.random.fold_in(key, 1))
        branches = imagine_branches(config, spec, model, actor, *args_b)
    return action_values(*args), start_rows, branches


def backprop_returns(config: DreamerConfig, critic, values, critic_params, again: Imagined):
    """The lambda-returns of `again`, the trajectory imagined again with the actor's parameters
    being differentiated (the same key, so the same values): dynamics backpropagation
    differentiates them through the imagined rewards, values and states."""
    critic_value = values.mean(on_rows(critic, critic_params, again.features))
    return imagined_returns(config, again, critic_value)


def first_row_weights(
    weight: Float[Array, "horizon N"], first: Float[Array, " N"], factor: float
) -> Float[Array, "horizon N"]:
    """The actor's loss weights: `weight` with the start states (`[0]`) that open an episode
    (`first` 1) multiplied by `factor` (`DreamerConfig.first_row_weight`)."""
    return weight.at[0].multiply(1.0 + (factor - 1.0) * first)


def first_rows_mean(x: Float[Array, " N"], first: Float[Array, " N"]) -> Float[Array, ""]:
    """The mean of `x` over the rows that start an episode (`first` 1), NaN where none does (a
    metric's mean over updates then skips it)."""
    count = first.sum()
    return jnp.where(count > 0, (jax.lax.stop_gradient(x) * first).sum() / count, jnp.nan)


def replayed_terms(
    config: DreamerConfig, features: Float[Array, "N F"], value: Float[Array, " N"], batch,
    return_scale: ReturnScale,
) -> Replayed | None:  # fmt: skip
    """The replayed windows (`batch`, `[T, b]` rows) as the actor's replay term reads them,
    from their posterior states' features and critic values (the imagination's starts, `N = T
    b`, rows in order). Row `t + 1` holds the action taken in `s_t` and its reward (the rows'
    convention: a row holds what led to it); the returns bootstrap with the critic's values,
    stop at a terminal row, and are the critic's value on an episode's last row (whose next row
    is the next episode's reset). None without `batch` (no replay term)."""
    if batch is None:
        return None
    shape = batch.start.shape
    features, value = features.reshape(*shape, -1), value.reshape(shape)
    returns, weight = replay_returns(value, batch, config.gamma, config.lambda_)
    advantage = (returns - value[:-1]) / scale(return_scale)
    return jax.lax.stop_gradient(Replayed(features[:-1], batch.action[1:], advantage, weight))


def replay_returns(
    value: Float[Array, "T b"], batch: wm.Batch, gamma: float, lambda_: float
) -> tuple[Float[Array, "T-1 b"], Float[Array, "T-1 b"]]:
    """`(returns, weight)` of the replayed states `s_0 .. s_{T-2}` (see `replayed_terms`):
    TD(lambda) returns of the rows' rewards with the values `value[T, b]` of every row, and
    weight 0 on an episode's last row (return: its value)."""
    last = batch.start[1:].astype(jnp.float32)
    continues = (1.0 - batch.terminated[1:].astype(jnp.float32)) * (1.0 - last)
    reward = jnp.where(last > 0, value[:-1], batch.reward[1:])
    return lambda_returns(reward, value, continues, gamma, lambda_), 1.0 - last


def replay_objective(policy: Callable, replayed: Replayed) -> Float[Array, ""]:
    """`mean_w(log pi(a_t | s_t) * advantage_t)` over the replayed transitions (REINFORCE on
    real actions and returns; the weight-0 rows left out)."""
    log_prob = policy(replayed.features).log_prob(replayed.action)
    total = (replayed.weight * log_prob * replayed.advantage).sum()
    return total / jnp.maximum(replayed.weight.sum(), 1.0)


def critic_forward(critic: nn.Module, values, state: DreamerState, features):
    """The critic's logits on every imagined state (`features[horizon + 1, N, F]`), once, on one
    row axis (`on_rows`'s, kept as rows): `(rows, logits, vjp, value[horizon + 1, N])`, the
    values for the returns and, by the vjp, the critic's gradient."""
    rows, lead = merge_leading(features, 1)
    logits, critic_vjp = jax.vjp(lambda p: critic.apply(p, rows), state.critic.params)
    return rows, logits, critic_vjp, split_leading(values.mean(logits), lead)


def imagination_metrics(
    value, returns, return_scale: ReturnScale, actor_metrics: dict, critic_metrics: dict
) -> dict:
    """The actor's and critic's metrics (their gradient norms named apart), and the critic's
    values against the lambda-returns of `s_0 .. s_{horizon-1}` and the return scale."""
    return {
        **renamed(actor_metrics, "actor_grad_norm"),
        **renamed(critic_metrics, "critic_grad_norm"),
        "value": value[:-1].mean(),
        "value_error": abs(value[:-1] - returns).mean(),
        "return_scale": scale(return_scale),
        "imagined_return": returns.mean(),
    }


def renamed(metrics: dict, grad_norm: str) -> dict:
    """`metrics` with its `grad_norm` under the name `grad_norm` (e.g. `actor_grad_norm`)."""
    return {(grad_norm if k == "grad_norm" else k): v for k, v in metrics.items()}


def make_train_step(
    config: DreamerConfig, spec: EnvSpec, model, actor, critic, optimizers, split: Split
):
    """Returns `train_step(state, key) -> (state, metrics)`: one world-model and one
    actor-critic update on replayed windows, kept only if every loss and gradient is finite.
    `split` keeps the replayed rows and the imagination's starts on the devices
    (agents.common.devices)."""
    wm_opt, actor_opt, critic_opt = optimizers
    wm_step = make_optimizer_step(model, wm_opt)
    actor_critic_step = make_actor_critic_step(
        config, spec, model, actor, critic, (actor_opt, critic_opt)
    )
    flat = jax.tree_util.Partial(jax.tree.map, lambda x: x.reshape(-1, *x.shape[2:]))

    def train_step(state: DreamerState, key):
        replay_key, wm_key, filter_key, imagine_key = jax.random.split(key, 4)
        batch, carry = replayed_windows(config, model, state, replay_key, split)
        fed = backbone_actions(config, spec, batch, wm_key)
        world_model, wm_metrics = wm_step(state.world_model, batch, wm_key, carry, fed)
        fed_batch = batch if fed is None else batch._replace(action=fed)
        carries = filter_carries(model, world_model.params, carry, fed_batch, filter_key)
        windows = batch if config.actor_replay_scale > 0 else None  # for the replay term
        starts = split_tree(split, jax.lax.stop_gradient(flat(carries)), 0)
        start_flags = tuple(
            split(flat(flag).astype(jnp.float32), 0) for flag in (batch.terminated, batch.start)
        )
        actor_state, critic_state, return_scale, ac_metrics = actor_critic_step(
            state, world_model.params, starts, start_flags, imagine_key, windows
        )
        checked = ("actor_loss", "critic_loss", "actor_grad_norm", "critic_grad_norm")
        finite = all_finite(
            wm_metrics["loss"], wm_metrics["grad_norm"], *(ac_metrics[k] for k in checked)
        )
        slow = ema_update(state.slow_critic, critic_state.params, config.slow_critic_decay)
        new = Learner(world_model, actor_state, critic_state, slow, return_scale)
        metrics = {
            **{f"wm_{k}": v for k, v in wm_metrics.items()},
            **ac_metrics,
            "nonfinite": 1 - finite.astype(jnp.int32),
        }
        # Only the learnt parts are selected: the replay ring (most of the state's bytes) is
        # not copied by an update.
        return state._replace(**keep_if_finite(new, learner(state), finite)._asdict()), metrics

    return train_step


def backbone_actions(config: DreamerConfig, spec: EnvSpec, batch: wm.Batch, key):
    """The replayed actions `[T, batch]` the world model's backbone reads: `None` (the taken
    ones) or, with `action_relabel`, each window's (column's) actions, at that rate, mapped
    through a random permutation of the `A` action ids drawn for the window (from a key folded
    off `key`, so that the rest of the update draws as without)."""
    if config.action_relabel == 0:
        return None
    pick_key, order_key = jax.random.split(jax.random.fold_in(key, 1))
    windows = batch.action.shape[1]
    orders = jax.random.split(order_key, windows)
    perms = jax.vmap(lambda k: jax.random.permutation(k, spec.action_dim))(orders)  # [batch, A]
    relabelled = jnp.take_along_axis(perms, batch.action.T, axis=1).T.astype(batch.action.dtype)
    picked = jax.random.uniform(pick_key, (windows,)) < config.action_relabel
    return jnp.where(picked, relabelled, batch.action)


def make_update(config: DreamerConfig, spec, model, actor, critic, optimizers, split: Split):
    """Returns `update(state) -> (state, metrics)`: one acting phase and its updates (`split`:
    see `make_train_step`)."""
    act = make_act(config, spec, model, actor)
    train_step = make_train_step(config, spec, model, actor, critic, optimizers, split)

    def train_phase(state: DreamerState, key):
        # The scan carries the learnt parts only; the replay ring is read, never written, by
        # the updates, so it stays one buffer instead of a loop carry.
        def body(learnt: Learner, key):
            new, metrics = train_step(state._replace(**learnt._asdict()), key)
            return learner(new), metrics

        keys = jax.random.split(key, config.updates_per_iteration)
        learnt, metrics = jax.lax.scan(body, learner(state), keys)
        # An update whose windows hold no episode start has no `reset_entropy`: skipped.
        means = {
            k: (jnp.nanmean if k == "reset_entropy" else jnp.mean)(v) for k, v in metrics.items()
        }
        return state._replace(**learnt._asdict()), means

    def skip_phase(state: DreamerState, key):
        shapes = jax.eval_shape(train_phase, state, key)[1]
        return state, jax.tree.map(lambda s: jnp.full(s.shape, jnp.nan, s.dtype), shapes)

    def update(state: DreamerState) -> tuple[DreamerState, dict]:
        acting, rows, before, info, held, key = act(state)
        carries = before if config.replay.stores_carry else None
        buffer = replay.add(state.replay, rows, carries)
        key, train_key = jax.random.split(key)
        state = state._replace(acting=acting, replay=buffer, key=key)
        ready = replay.can_sample(buffer, config.replay.window)
        state, metrics = jax.lax.cond(ready, train_phase, skip_phase, state, train_key)
        nonfinite = jnp.nan_to_num(metrics.pop("nonfinite"), nan=0.0)
        streak = nonfinite_streak(state.nonfinite_streak, nonfinite == 0)
        count = state.update + 1
        state = state._replace(update=count, nonfinite_streak=streak)
        info = {**info, "returned_episode": info["returned_episode"] & ~held}
        metrics = {
            "update": count,
            "env_steps": count * config.steps_per_iteration,
            **metrics,
            **episode_metrics(info),
            "nonfinite": nonfinite,
            "nonfinite_streak": streak,
        }
        return state, metrics

    return update


def check_action_space(config: DreamerConfig, spec: EnvSpec) -> None:
    """Refuses, before anything compiles, the options that need the other action space."""
    require(
        not (spec.discrete and config.actor_gradient == "backprop"),
        f"actor_gradient='backprop' needs continuous actions and {config.env_name} has discrete "
        "ones; use actor_gradient='reinforce'.",
    )
    require(
        spec.discrete or config.actor_gradient not in START_GRADIENTS,
        f"actor_gradient={config.actor_gradient!r} needs discrete actions and {config.env_name} "
        "has continuous ones; use actor_gradient='reinforce' or 'backprop'.",
    )
    for name in ("first_explore", "action_relabel"):
        require(
            spec.discrete or getattr(config, name) == 0,
            f"{name}={getattr(config, name)} needs discrete actions and {config.env_name} has "
            "continuous ones; leave it at 0.",
        )
    require(
        spec.discrete or config.reward_head == "state",
        f"reward_head='action' needs discrete actions and {config.env_name} has continuous "
        "ones; use reward_head='state'.",
    )


def make_agent(config: DreamerConfig, split: Split = no_split) -> Agent:
    """Builds the environment, world model, actor, critic and the pure training functions."""
    # The bounded normal's mean lies in [-1, 1] (DreamerV3 normalises every action space to
    # it): the wrapper clips samples to [-1, 1] and maps them onto the task's bounds.
    spec = make_env(config.env_name, config.env_options, squash=True, agent="the model-based agent")
    check_action_space(config, spec)
    model = make_world_model(config, spec)
    actor, critic = make_heads(config, spec)
    optimizers = (
        make_optimizer(config.model_lr, config.grad_clip),
        actor_optimizer(config.actor_lr, config.first_head_lr, config.grad_clip),
        make_optimizer(config.critic_lr, config.grad_clip),
    )
    init = make_init(config, spec, model, actor, critic, optimizers)
    update = make_update(config, spec, model, actor, critic, optimizers, split)

    def run(state: DreamerState, num_updates: int) -> tuple[DreamerState, dict]:
        return jax.lax.scan(lambda s, _: update(s), state, None, num_updates)

    return Agent(config, spec, model, init, update, run)


def make_train(config: DreamerConfig) -> Callable[[jax.Array], tuple[DreamerState, dict]]:
    """Returns `train(key) -> (final DreamerState, metrics of every iteration)`; vmap it over
    seeds."""
    agent = make_agent(config)

    def train(key: jax.Array) -> tuple[DreamerState, dict]:
        return agent.run(agent.init(key), config.num_iterations)

    return train
