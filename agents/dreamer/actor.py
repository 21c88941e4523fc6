"""DreamerV3's actor: its action distributions and its loss on an imagined trajectory.

Distributions (distrax), from the actor network's raw output:
- discrete actions, `categorical_policy`: a categorical over `A` actions with 1% of the uniform
  distribution mixed in (`unimix`), so every action keeps some probability and the log-prob's
  gradient stays bounded; samples are integer actions, drawn by inverting the CDF at one
  uniform number (`Categorical`).
- continuous actions, `bounded_normal_policy`: DreamerV3's bounded normal, a diagonal Gaussian
  whose mean is `tanh` of the network's output (in `[-1, 1]`) and whose standard deviation is
  `(max_std - min_std) * sigmoid(raw + 2) + min_std` (in `[0.1, 1]`). It is neither tanh-squashed
  nor clipped: a sample can leave `[-1, 1]`, and the environment's action bounds clip it.

Loss (`actor_loss`), on the states `s_0 .. s_{horizon-1}` of an imagined trajectory, with the
advantage `adv_t = (R_t - v_t) / scale` (lambda-return minus the critic's value, divided by the
return scale of `return_norm`) and the loss weights `w_t` of `discount_weights`:
- "reinforce" (DreamerV3's choice for discrete actions, and in its latest version for all):
  `-mean(sg(w) * (log pi(a_t | s_t) * sg(adv_t) + eta * entropy_t))`;
- "backprop" (dynamics backpropagation, the original DreamerV3 paper's choice for continuous
  actions): `-mean(sg(w) * ((R_t - sg(v_t)) / scale + eta * entropy_t))`; the gradient flows
  from the return through the imagined rewards, values and states into the actions, so the
  caller must imagine with reparameterised action samples;
- "expected" (discrete actions): REINFORCE on `s_1 .. s_{horizon-1}`, and on the start state
  `s_0` the expected policy gradient (Ciosek and Whiteson, 2018) over every action:
  `sum_a pi(a | s_0) * sg((q_a - v_0) / scale)`, where `q_a` is the value of taking `a` in
  `s_0` (the caller imagines each action one step: reward plus discounted continuing value).
  REINFORCE learns an action's worth only from the actions it samples, so a state that is rare
  among the imagined ones (a reset row: one start in an episode's length, and never reached
  later in a trajectory) where the policy is already sure of a wrong answer gets almost no
  gradient; the expected gradient weighs every action at every start.
- "target" (discrete actions): REINFORCE on `s_1 .. s_{horizon-1}`, and on `s_0` the
  cross-entropy to a target policy that the same action values give, `softmax(sg((q_a - v_0)
  / scale) / tau)` (soft policy iteration, as in MPO's and SAC's improvement step, without
  their prior): `sum_a target_a log pi(a | s_0)`. Its gradient on the logits is `target - pi`,
  which does not vanish when the policy is sure of an answer the values rank below another;
  the expected gradient's, `pi_a (q_a - E_pi q)`, does (see MODEL_BASED.md, the first answer).
  `tau` (`target_temperature`, in advantage units) sets how sure the target is: an action
  worth `tau` more gets `e` times the probability.
`eta = 3e-4`. The entropy bonus pushes towards more random policies; with advantages scaled to
about 1, one value of `eta` fits every task.

Axis names: `horizon` imagination steps, `B` trajectories, `A` actions; `*batch` any leading axes.
"""

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray

from agents.common import require
from agents.world_model import make_optimizer
from rlssm.world_models.latents import DiscreteLatent, inverse_cdf_sample
from rlssm.world_models.networks import MLP

GRADIENTS = ("reinforce", "backprop", "expected", "target")
START_GRADIENTS = ("expected", "target")
"""The gradients that value every action at the start states (`first`)."""
START_ROWS = ("all", "first")
"""Where a start gradient applies: every start, or the starts that open an episode."""


class FirstStepActor(nn.Module):
    """The actor for `DreamerConfig.first_head`: two MLPs, the second read where the input's
    last column (the first-step flag of `features.reader`) is 1, so an episode's first step
    has parameters of its own. Trained by the first rows alone, they neither inherit what the
    other rows taught a shared network (to answer from the memory, which is empty there) nor
    move it, and Adam's per-parameter step does not shrink with the first rows' share of the
    loss (about 1 in 780 terms on POPGym's card tasks). Parameters: `later` and `first`."""

    width: int
    layers: int
    out: int

    @nn.compact
    def __call__(self, x: Float[Array, "*batch F"]) -> Float[Array, "*batch out"]:
        later = MLP(self.width, self.layers, jax.nn.silu, self.out, name="later")(x)
        first = MLP(self.width, self.layers, jax.nn.silu, self.out, name="first")(x)
        return jnp.where(x[..., -1:] > 0.5, first, later)


def actor_optimizer(
    lr: float, first_lr: float | None, grad_clip: float
) -> optax.GradientTransformation:
    """The actor's optimiser: `make_optimizer(lr)`, or with `first_lr` that rate for the first
    step's network of a `FirstStepActor` (its `first` parameters) and `lr` for the rest."""
    optimizer = make_optimizer(lr, grad_clip)
    if first_lr is None:
        return optimizer

    def labels(params):
        def group(name, tree):
            return jax.tree.map(lambda _: "first" if name == "first" else "other", tree)

        return {"params": {name: group(name, tree) for name, tree in params["params"].items()}}

    first = make_optimizer(first_lr, grad_clip)
    return optax.multi_transform({"other": optimizer, "first": first}, labels)


def categorical_policy(raw: Float[Array, "*batch A"], unimix: float = 0.01) -> distrax.Categorical:
    """Logits `raw[..., A]` -> `(1 - unimix) * softmax(raw) + unimix / A` as a distrax categorical.

    The mixing is the world model's discrete latent's (one variable of `A` classes).
    """
    actions = raw.shape[-1]
    logits = DiscreteLatent(1, actions, unimix).stats(raw)[..., 0, :]
    return Categorical(logits=logits)


class Categorical(distrax.Categorical):
    """distrax's categorical, sampled by `inverse_cdf_sample`: one uniform number per draw, where
    distrax's Gumbel-max trick draws one per class (the same distribution)."""

    def _sample_n(self, key: PRNGKeyArray, n: int) -> Int[Array, " n *batch"]:
        u = jax.random.uniform(key, (n, *self.logits.shape[:-1]), self.logits.dtype)
        return inverse_cdf_sample(self.probs, u).astype(self._dtype)


def bounded_normal_policy(
    raw: Float[Array, "*batch 2*A"], min_std: float = 0.1, max_std: float = 1.0
) -> distrax.Distribution:
    """`raw[..., 2 A]` (mean, then pre-sigmoid std) -> a diagonal Gaussian, event shape `[A]`.

    Mean `tanh(raw[..., :A])`; std `(max_std - min_std) * sigmoid(raw[..., A:] + 2) + min_std`.
    """
    mean, std = jnp.split(raw, 2, axis=-1)
    std = (max_std - min_std) * jax.nn.sigmoid(std + 2.0) + min_std
    return distrax.Independent(distrax.Normal(jnp.tanh(mean), std), 1)


def actor_loss(
    log_prob: Float[Array, "horizon B"],
    entropy: Float[Array, "horizon B"],
    returns: Float[Array, "horizon B"],
    value: Float[Array, "horizon B"],
    weight: Float[Array, "horizon B"],
    scale: float | Float[Array, ""],
    gradient: str = "reinforce",
    entropy_coef: float = 3e-4,
    first: tuple[Float[Array, "B A"], Float[Array, "B A"]] | None = None,
    target_temperature: float = 0.03,
    start_rows: Float[Array, " B"] | None = None,
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """The actor's loss over `[horizon, B]` (see the module docstring for both gradients).

    Args:
        log_prob: `log pi(a_t | s_t)` of the imagined actions (not read by "backprop").
        entropy: the policy's entropy in each state.
        returns: lambda-returns `R[horizon, B]`; "backprop" differentiates through them.
        value: the critic's values `v(s_t)` (the baseline, no gradient).
        weight: loss weights (`discount_weights`, no gradient).
        scale: the return scale (`return_norm.scale`), at least 1.
        gradient: one of `GRADIENTS`.
        entropy_coef: eta, the entropy bonus's weight.
        first: with "expected" and "target" only, `(probs[B, A], q[B, A])`: the policy's
            probabilities in the start states `s_0` (differentiable) and every action's value
            there.
        target_temperature: tau of "target".
        start_rows: with `first`, the starts whose term it replaces (1; 0 keeps REINFORCE's);
            None: every start.

    Returns:
        The scalar loss and metrics `actor_loss`, `advantage` (mean), `advantage_magnitude`
        (mean absolute) and `entropy` (mean), all over `[horizon, B]`.
    """
    require(gradient in GRADIENTS, f"gradient={gradient!r}: use one of {GRADIENTS}.")
    require(
        (first is not None) == (gradient in START_GRADIENTS),
        f"gradient={gradient!r}: pass `first` (the start states' probabilities and action "
        f"values) with {START_GRADIENTS} and only with them.",
    )
    sg = jax.lax.stop_gradient
    advantage = (returns - sg(value)) / scale
    # REINFORCE: the score function times a constant advantage; backprop: the return itself.
    objective = advantage if gradient == "backprop" else log_prob * sg(advantage)
    if first is not None:
        start = start_objective(*first, value[0], scale, gradient, target_temperature)
        if start_rows is not None:
            start = jnp.where(start_rows > 0, start, objective[0])
        objective = jnp.asarray(objective).at[0].set(start)
    loss = -(sg(weight) * (objective + entropy_coef * entropy)).mean()
    metrics = {
        "actor_loss": loss,
        "advantage": sg(advantage).mean(),
        "advantage_magnitude": abs(sg(advantage)).mean(),
        "entropy": sg(entropy).mean(),
    }
    return loss, metrics


def start_objective(
    probs: Float[Array, "B A"], q: Float[Array, "B A"], value: Float[Array, " B"],
    scale: float | Float[Array, ""], gradient: str, temperature: float,
) -> Float[Array, " B"]:  # fmt: skip
    """The objective at the start states from every action's value `q[B, A]`: the expected
    policy gradient's `sum_a pi_a adv_a` or the target's `sum_a target_a log pi_a`."""
    advantage = jax.lax.stop_gradient((q - value[:, None]) / scale)
    if gradient == "expected":
        return (probs * advantage).sum(-1)
    # A probability that underflowed to 0 (possible only with unimix 0) gives a finite loss.
    log_probs = jnp.log(jnp.maximum(probs, jnp.finfo(probs.dtype).tiny))
    return (jax.nn.softmax(advantage / temperature) * log_probs).sum(-1)
