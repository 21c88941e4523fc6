"""The latent world model shared by S4WM, RSSM and TSSM: network and functional interface.

Axis names: `T` time, `B` batch, `H` deterministic width, `S` stochastic width, `A` actions;
`*obs` the observation shape (`config.obs_shape`, an image's or a vector's) in the jaxtyping
annotations.
Time convention: `action[t]` led to `obs[t]`; `start[t]` says `obs[t]` opens an episode (see
`rlssm.world_models.state`). One step, for every model:

    u[t]   = MLP(concat(z[t-1], action[t]))       (both zeroed where start[t]; z[t-1] also
                                                   where blind[t], see `Batch.blind`)
    h[t]   = backbone(u[<=t])                     (any memory core; reset before u[t] at a start)
    prior  = p(z[t] | h[t])                        (MLP on h)
    post   = q(z[t] | obs[t])                      (S4WM, TSSM: the observation alone)
           = q(z[t] | obs[t], h[t])                (RSSM: also the deterministic state)
    decoder, reward, continue heads read concat(z[t], h[t])

When the posterior does not read `h`, every `z[t]` is known before the backbone runs, so `observe`
runs the backbone over the whole sequence at once (a parallel scan for the linear cores); otherwise
it runs `observe_step` in a scan. `imagine` always steps the prior.

Randomness: `observe` draws the sample of step `t` with `jax.random.split(key, T)[t]` and
`imagine` that of step `i` with `jax.random.split(key, horizon)[i]` (split in two when a policy also
needs a key), so a step-by-step loop reproduces them exactly. (The parallel path draws the `T`
samples under `vmap`, which gives the same numbers as separate draws for threefry keys, the
default, but not for `rbg` keys.)
"""

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree

from rlssm.nn import activation
from rlssm.world_models.config import WorldModelConfig
from rlssm.world_models.latents import latent_for, reward_for, symexp, symlog
from rlssm.world_models.networks import MLP, encode_action, make_decoder, make_encoder
from rlssm.world_models.objective import world_model_loss
from rlssm.world_models.state import (
    Batch,
    Imagination,
    LatentState,
    ObserveOutputs,
    Predictions,
    WorldModelCarry,
)

# Shapes are jaxtyping annotations (documentation: nothing checks them at run time). A shape
# string that would parse as a Python expression gets a leading space (" B"), which jaxtyping
# strips, so that linters do not read it as a forward reference.
Params = PyTree[Float[Array, "..."]]
"""The model's parameters, from `WorldModel.init`."""
Policy = Callable[[Float[Array, "B S+H"], PRNGKeyArray], Int[Array, " B"] | Float[Array, "B A"]]
"""`policy(features[B, S + H], key) -> action[B] (int) or [B, A]`."""


def initial_carry(config: WorldModelConfig, batch_size: int) -> WorldModelCarry:
    """Zeros for the latent state and the backbone's initial carry; every leaf leads with `B`."""
    state = LatentState(
        stoch=jnp.zeros((batch_size, config.stoch_size), jnp.float32),
        deter=jnp.zeros((batch_size, config.deter_size), jnp.float32),
    )
    return WorldModelCarry(core=config.core.build().initialize_carry(batch_size), state=state)


def check_inputs(config: WorldModelConfig, obs, action, start, lead: str, blind=None) -> None:
    """Checks shapes and dtypes at trace time; `lead` is `"[T, B]"` or `"[B]"`; `blind` is None
    or shaped like `start`. Integer actions outside `[0, action_dim)` are refused when they are
    concrete values; traced ones are not checked (an out-of-range id one-hot encodes as zeros)."""
    rank = lead.count(",") + 1
    obs_shape, lead_shape = tuple(config.obs_shape), jnp.shape(obs)[:rank]
    if jnp.shape(obs) != lead_shape + obs_shape or len(lead_shape) != rank:
        raise ValueError(f"obs must be {lead} + {obs_shape}, got shape {jnp.shape(obs)}.")
    if jnp.asarray(start).dtype != jnp.bool_ or jnp.shape(start) != lead_shape:
        raise TypeError(
            f"start must be bool {lead} = {lead_shape}, got {jnp.asarray(start).dtype}"
            f"{list(jnp.shape(start))}; start[t] is True where obs[t] opens an episode."
        )
    if blind is not None and (
        jnp.asarray(blind).dtype != jnp.bool_ or jnp.shape(blind) != lead_shape
    ):
        raise TypeError(
            f"blind must be None or bool {lead} = {lead_shape} like start, got "
            f"{jnp.asarray(blind).dtype}{list(jnp.shape(blind))}."
        )
    integer = jnp.issubdtype(jnp.asarray(action).dtype, jnp.integer)
    expected = lead_shape if integer else (*lead_shape, config.action_dim)
    if jnp.shape(action) != expected:
        raise ValueError(
            f"action must be {lead} integers or {lead} + ({config.action_dim},) floats, got "
            f"{jnp.asarray(action).dtype}{list(jnp.shape(action))}."
        )
    if integer and not isinstance(action, jax.core.Tracer) and jnp.size(action):
        # Concrete values only: traced ones (under jit, vmap, grad) are not checked, and an
        # out-of-range id is then one-hot encoded as all zeros (see `encode_action`).
        values = np.asarray(action)  # numpy: jnp would be staged (traced) inside a jit
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= config.action_dim:
            bad = low if low < 0 else high
            raise ValueError(
                f"action holds {bad}, outside the action_dim={config.action_dim} actions "
                f"0..{config.action_dim - 1}; pass ids in that range (or build the model with "
                "the environment's number of actions)."
            )


def _observe_scan_body(net: "WorldModelNet", carry, inputs):
    embed, action, start, blind, key = inputs
    carry, state, outputs = net.observe_embedded(carry, embed, action, start, key, blind)
    return carry, (state, outputs)


class WorldModelNet(nn.Module):
    """All parameters of a latent world model; methods run one step or one sequence."""

    config: WorldModelConfig
    posterior_sees_backbone: bool
    """RSSM: the posterior reads `h[t]` (sequential); S4WM/TSSM: it does not (parallel)."""
    sample: bool = True
    """Draw latents (True) or take the distributions' modes (False, deterministic)."""

    def setup(self):
        cfg = self.config
        act = activation(cfg.activation)
        self.latent = latent_for(cfg)
        self.reward_dist = reward_for(cfg)
        self.encoder = make_encoder(cfg)
        self.backbone_input = MLP(cfg.hidden_size, cfg.mlp_layers, act, out=cfg.hidden_size)
        self.core = cfg.core.build()
        self.prior_head = MLP(cfg.hidden_size, cfg.mlp_layers, act, out=self.latent.raw_size)
        self.posterior_head = MLP(cfg.hidden_size, cfg.mlp_layers, act, out=self.latent.raw_size)
        self.decoder = make_decoder(cfg)
        heads = cfg.action_dim if cfg.reward_head == "action" else 1
        self.reward_head = MLP(
            cfg.hidden_size,
            cfg.mlp_layers,
            act,
            out=heads * self.reward_dist.raw_size,
            zero_out=True,
        )
        self.continue_head = MLP(cfg.hidden_size, cfg.mlp_layers, act, out=1)

    def _draw(self, stats: jax.Array, key: jax.Array) -> jax.Array:
        return self.latent.sample(stats, key) if self.sample else self.latent.mode(stats)

    def _backbone_input(self, stoch_prev, action, start, blind=None):
        """`u = MLP(concat(z[t-1], action[t]))`, both zeroed where `start`, `z[t-1]` also where
        `blind` (None: nowhere); any leading axes."""
        action = encode_action(action, self.config.action_dim)
        keep = jnp.logical_not(start)[..., None]
        keep_stoch = keep if blind is None else keep & jnp.logical_not(blind)[..., None]
        return self.backbone_input(jnp.concatenate([stoch_prev * keep_stoch, action * keep], -1))

    def embed(self, obs: Float[Array, "..."]) -> Float[Array, "..."]:
        """The encoder's features of `obs[..., *obs_shape]` (any leading axes; no state)."""
        obs = jnp.asarray(obs, jnp.float32)
        if not self.config.is_image and self.config.symlog_obs:
            obs = symlog(obs)
        return self.encoder(obs)

    def _posterior(self, embed, deter):
        """Posterior stats from the encoder features (and `h` where the posterior reads it)."""
        if self.posterior_sees_backbone:
            embed = jnp.concatenate([embed, deter], -1)
        return self.latent.stats(self.posterior_head(embed))

    def prior(self, deter: Float[Array, "*batch H"]) -> Float[Array, "..."]:
        """Prior stats of `z` given the backbone output `h[..., H]`."""
        return self.latent.stats(self.prior_head(deter))

    def observe_step(
        self,
        carry: WorldModelCarry,
        obs: Float[Array, " B *obs"],
        action: Int[Array, " B"] | Float[Array, "B A"],
        start: Bool[Array, " B"],
        key: PRNGKeyArray,
        blind: Bool[Array, " B"] | None = None,
    ) -> tuple[WorldModelCarry, LatentState, ObserveOutputs]:
        """One filtering step: `obs[B, ...]`, `action[B(, A)]`, `start[B]` -> next carry."""
        return self.observe_embedded(carry, self.embed(obs), action, start, key, blind)

    def observe_embedded(
        self,
        carry: WorldModelCarry,
        embed: Float[Array, "B E"],
        action: Int[Array, " B"] | Float[Array, "B A"],
        start: Bool[Array, " B"],
        key: PRNGKeyArray,
        blind: Bool[Array, " B"] | None = None,
    ) -> tuple[WorldModelCarry, LatentState, ObserveOutputs]:
        """`observe_step` from the encoder features `embed[B, E]` of the observation."""
        u = self._backbone_input(carry.state.stoch, action, start, blind)
        core_carry, deter = self.core.step(carry.core, u, start)
        prior = self.prior(deter)
        posterior = self._posterior(embed, deter)
        state = LatentState(self._draw(posterior, key), deter)
        return WorldModelCarry(core_carry, state), state, ObserveOutputs(prior, posterior)

    def observe(
        self,
        carry: WorldModelCarry,
        obs: Float[Array, "T B *obs"],
        action: Int[Array, "T B"] | Float[Array, "T B A"],
        start: Bool[Array, "T B"],
        keys: jax.Array,
        blind: Bool[Array, "T B"] | None = None,
    ) -> tuple[WorldModelCarry, LatentState, ObserveOutputs]:
        """A whole sequence: `obs[T, B, ...]`, `start[T, B]`, `keys[T]` -> carry, states, stats.

        The encoder runs on all `T x B` frames at once in both cases (it reads no state, as in
        DreamerV3); only the recurrence is a scan when the posterior reads the backbone.
        """
        embed = self.embed(obs)
        if self.posterior_sees_backbone:
            scan = nn.scan(
                _observe_scan_body, variable_broadcast="params", split_rngs={"params": False}
            )
            carry, (states, outputs) = scan(self, carry, (embed, action, start, blind, keys))
            return carry, states, outputs
        return self._observe_parallel(carry, embed, action, start, keys, blind)

    def _observe_parallel(self, carry: WorldModelCarry, embed, action, start, keys, blind):
        posterior = self._posterior(embed, None)
        stoch = jax.vmap(self._draw)(posterior, keys)
        stoch_prev = jnp.concatenate([carry.state.stoch[None], stoch[:-1]])
        u = self._backbone_input(stoch_prev, action, start, blind)
        core_carry, deter = self.core(carry.core, u, start)
        states = LatentState(stoch, deter)
        last = jax.tree.map(lambda x: x[-1], states)
        return (
            WorldModelCarry(core_carry, last),
            states,
            ObserveOutputs(self.prior(deter), posterior),
        )

    def imagine_step(
        self,
        carry: WorldModelCarry,
        action: Int[Array, " B"] | Float[Array, "B A"],
        key: PRNGKeyArray,
    ) -> tuple[WorldModelCarry, LatentState, Float[Array, "B ..."]]:
        """One prior step from `carry` under `action[B(, A)]` -> `(carry, state, prior stats)`."""
        start = jnp.zeros(carry.state.stoch.shape[:1], bool)
        u = self._backbone_input(carry.state.stoch, action, start)
        core_carry, deter = self.core.step(carry.core, u, start)
        prior = self.prior(deter)
        state = LatentState(self._draw(prior, key), deter)
        return WorldModelCarry(core_carry, state), state, prior

    def predict(self, state: LatentState, action: jax.Array | None = None) -> Predictions:
        """Decoder and heads on `concat(z, h)` (any leading axes); `action` (integer `[...]` or
        features `[..., A]`, the action that led to each state) only for `reward_head='action'`."""
        features = state.features
        return Predictions(
            obs=self.decoder(features),
            reward=self._reward(features, action),
            continue_logit=self.continue_head(features)[..., 0],
        )

    def _reward(self, features: jax.Array, action: jax.Array | None) -> jax.Array:
        """Reward head output `[..., R]`: of the state, or the heads `[..., A, R]` weighed by
        the action's features `[..., A]` (one-hot: the taken action's head)."""
        raw = self.reward_head(features)
        if self.config.reward_head == "state":
            return raw
        if action is None:
            raise ValueError(
                "reward_head='action' predicts rewards from states and actions; pass "
                "the action that led to each state."
            )
        dim = self.config.action_dim
        heads = raw.reshape(*raw.shape[:-1], dim, -1)
        return jnp.einsum("...ar,...a->...r", heads, encode_action(action, dim))

    def __call__(self, carry, obs, action, start, keys):
        """Touches every parameter (used by `init`): observe, one imagined step, predict."""
        carry, states, _ = self.observe(carry, obs, action, start, keys)
        self.imagine_step(carry, action[-1], keys[-1])
        return self.predict(states, action)


@dataclasses.dataclass(frozen=True)
class WorldModel:
    """A latent world model with a functional interface shared by S4WM, RSSM and TSSM.

    Hashable, so jitted functions can close over it. Subclasses set `name`,
    `posterior_sees_backbone` and the backbone `make` picks by default.
    """

    config: WorldModelConfig
    """All options; the backbone is `config.core`."""

    name: ClassVar[str] = ""
    posterior_sees_backbone: ClassVar[bool] = False
    default_core: ClassVar[str] = "s5"

    def net(self, sample: bool = True) -> WorldModelNet:
        """The flax module (`sample=False` takes the modes of the latent distributions)."""
        return WorldModelNet(self.config, self.posterior_sees_backbone, sample)

    @property
    def parallel(self) -> bool:
        """Whether `observe` runs the backbone over the whole sequence at once."""
        return not self.posterior_sees_backbone

    def initial_carry(self, batch_size: int) -> WorldModelCarry:
        """The carry before any observation; every leaf leads with `B`."""
        return initial_carry(self.config, batch_size)

    def init(self, key: PRNGKeyArray, batch_size: int = 1) -> Params:
        """Parameters, from dummy inputs of two steps."""
        obs = jnp.zeros((2, batch_size, *self.config.obs_shape), jnp.float32)
        action = jnp.zeros((2, batch_size), jnp.int32)
        start = jnp.zeros((2, batch_size), bool).at[0].set(True)
        params_key, sample_key = jax.random.split(key)
        keys = jax.random.split(sample_key, 2)
        carry = self.initial_carry(batch_size)
        return jax.jit(self.net().init)(params_key, carry, obs, action, start, keys)

    def observe(
        self,
        params: Params,
        carry: WorldModelCarry,
        obs: Float[Array, "T B *obs"],
        action: Int[Array, "T B"] | Float[Array, "T B A"],
        start: Bool[Array, "T B"],
        key: PRNGKeyArray,
        sample: bool = True,
        blind: Bool[Array, "T B"] | None = None,
    ) -> tuple[WorldModelCarry, LatentState, ObserveOutputs]:
        """Posterior states of a sequence (teacher forcing).

        Args:
            params: from `init`.
            carry: state before `obs[0]` (`initial_carry(B)` or a previous call's carry).
            obs: `[T, B, *obs_shape]`.
            action: action that led to `obs[t]`, `[T, B]` integers or `[T, B, A]` floats.
            start: `[T, B]` bool, `obs[t]` opens an episode.
            key: step `t` samples with `jax.random.split(key, T)[t]`.
            sample: False takes the modes (deterministic).
            blind: `[T, B]` bool or None; where True the backbone input of step `t` does not
                read `z[t - 1]` (see `Batch.blind`).

        Returns:
            The carry after `obs[T - 1]`, posterior states `LatentState[T, B]`, prior and
            posterior stats.
        """
        check_inputs(self.config, obs, action, start, "[T, B]", blind)
        keys = jax.random.split(key, obs.shape[0])
        net = self.net(sample)
        return net.apply(params, carry, obs, action, start, keys, blind, method="observe")

    def observe_step(
        self,
        params: Params,
        carry: WorldModelCarry,
        obs: Float[Array, " B *obs"],
        action: Int[Array, " B"] | Float[Array, "B A"],
        start: Bool[Array, " B"],
        key: PRNGKeyArray,
        sample: bool = True,
        blind: Bool[Array, " B"] | None = None,
    ) -> tuple[WorldModelCarry, LatentState, ObserveOutputs]:
        """One filtering step (for acting): `obs[B, ...]`, `action[B(, A)]`, `start[B]`, and
        `blind[B]` (optional, see `observe`)."""
        check_inputs(self.config, obs, action, start, "[B]", blind)
        net = self.net(sample)
        return net.apply(params, carry, obs, action, start, key, blind, method="observe_step")

    def predict(
        self, params: Params, states: LatentState, action: jax.Array | None = None
    ) -> Predictions:
        """Raw decoder and head outputs for states with any leading axes; `action`: the action
        that led to each state (integer `[...]` or `[..., A]`), needed by `reward_head='action'`."""
        return self.net().apply(params, states, action, method="predict")

    def imagine(
        self,
        params: Params,
        carry: WorldModelCarry,
        actions: Int[Array, "horizon B"] | Float[Array, "horizon B A"] | Policy,
        key: PRNGKeyArray,
        horizon: int | None = None,
        sample: bool = True,
        policy_features: Callable[[WorldModelCarry], Float[Array, "B ..."]] | None = None,
    ) -> tuple[WorldModelCarry, Imagination]:
        """Rolls the prior forward from `carry` (e.g. the carry `observe` returned on a context).

        Args:
            params: from `init`.
            carry: the context's carry.
            actions: `[horizon, B]` integers or `[horizon, B, A]` floats, or a policy
                `policy(features[B, S + H], key) -> action` called on the current state.
            key: step `i` uses `jax.random.split(key, horizon)[i]`, split in two (latent, policy)
                when a policy is given.
            horizon: number of steps; needed with a policy, read from `actions` otherwise.
            sample: False takes the prior's modes.
            policy_features: what a policy reads instead of `features[B, S + H]`:
                `policy_features(carry) -> [B, F]` (e.g. with the backbone's whole carry, R2I's
                full-state policy); the `Imagination` then also holds it after every step.

        Returns:
            The carry after the last step and the `Imagination` (states, actions, decoded frame
            means, reward means, continue probabilities, and `policy_features` when given), each
            `[horizon, B, ...]`.
        """
        net = self.net(sample)
        policy = actions if callable(actions) else None
        if policy is None:
            horizon = jnp.shape(actions)[0] if horizon is None else horizon
        elif horizon is None:
            raise ValueError("imagine with a policy needs a horizon.")
        dim = self.config.action_dim

        def read(carry: WorldModelCarry):
            return carry.state.features if policy_features is None else policy_features(carry)

        def body(carry, inputs):
            step_key, action = inputs
            if policy is not None:
                step_key, policy_key = jax.random.split(step_key)
                action = policy(read(carry), policy_key)
            action = encode_action(action, dim)
            carry, state, _ = net.apply(params, carry, action, step_key, method="imagine_step")
            return carry, (state, action, None if policy_features is None else read(carry))

        keys = jax.random.split(key, horizon)
        xs = (keys, None if policy else actions)
        carry, (states, encoded, features) = jax.lax.scan(body, carry, xs)
        return carry, self._imagination(params, states, encoded, features)

    def _imagination(
        self, params, states: LatentState, action: jax.Array, features: jax.Array | None = None
    ) -> Imagination:
        predictions = self.predict(params, states, action)
        reward_dist = reward_for(self.config)
        return Imagination(
            state=states,
            action=action,
            obs=self.observation_mean(predictions.obs),
            reward=reward_dist.mean(predictions.reward),
            continue_prob=jax.nn.sigmoid(predictions.continue_logit),
            features=features,
        )

    def observation_mean(self, decoded: Float[Array, "*batch"]) -> Float[Array, "*batch"]:
        """Decoder output -> observation (undoes symlog for vector observations)."""
        if self.config.is_image or not self.config.symlog_obs:
            return decoded
        return symexp(decoded)

    def loss(
        self,
        params: Params,
        batch: Batch,
        key: PRNGKeyArray,
        carry: WorldModelCarry | None = None,
        backbone_action: jax.Array | None = None,
    ) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
        """The world-model objective on a batch: `(scalar, metrics)` with named terms.

        `carry` defaults to `initial_carry(B)`. `backbone_action` (shaped like `batch.action`,
        default `batch.action`) is what the backbone reads as the actions that led to the
        observations; the reward head always reads `batch.action`. Metrics: `loss`, `recon`,
        `reward`, `continue`, `kl_dyn`, `kl_rep` (both clipped at `kl_free`), `kl` (unclipped),
        `prior_entropy`, `posterior_entropy`, `reward_mae`.
        """
        if carry is None:
            carry = self.initial_carry(batch.obs.shape[1])
        fed = batch.action if backbone_action is None else backbone_action
        _, states, outputs = self.observe(
            params, carry, batch.obs, fed, batch.start, key, blind=batch.blind
        )
        predictions = self.predict(params, states, batch.action)
        return world_model_loss(self.config, predictions, outputs, batch)
