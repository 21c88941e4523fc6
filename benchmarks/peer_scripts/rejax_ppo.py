"""rejax 0.1.3's PPO on CartPole-v1 at purejaxrl's setting (peer of `ours_ppo.py`).

    python rejax_ppo.py --seed 0              # compile, then one timed whole run of one seed
    python rejax_ppo.py --seed 0 --evaluate   # a user's whole script: rejax's own evaluation
                                              # (128 episodes) after training, final return

Timed runs replace rejax's periodic evaluation by nothing, so that both sides time training
only; `--evaluate` keeps one evaluation at the end, as a user reads a result.
"""

import sys

import jax
from pair import PPO, PPO_STEPS, arg, report, timed
from rejax import PPO as RejaxPPO


def make_algo(evaluate: bool):
    algo = RejaxPPO.create(
        env="CartPole-v1",
        num_envs=PPO["num_envs"],
        num_steps=PPO["num_steps"],
        num_epochs=PPO["epochs"],
        num_minibatches=PPO["minibatches"],
        learning_rate=PPO["lr"],
        max_grad_norm=0.5,
        total_timesteps=PPO_STEPS,
        eval_freq=PPO_STEPS,
        skip_initial_evaluation=True,
        gamma=0.99,
        gae_lambda=0.95,
        clip_eps=0.2,
        ent_coef=0.01,
        vf_coef=0.5,
        agent_kwargs={"activation": "tanh", "hidden_layer_sizes": (64, 64)},
    )
    if evaluate:
        return algo
    return algo.replace(eval_callback=lambda algo, ts, rng: jax.numpy.zeros(()))


def main() -> None:
    evaluate = "--evaluate" in sys.argv
    key = jax.random.key(int(arg("seed", "0")))
    algo = make_algo(evaluate)
    train = jax.jit(algo.train)
    compile_s, compiled = timed(lambda: train.lower(key).compile())
    run_s, (_, evaluation) = timed(lambda: jax.block_until_ready(compiled(key)))
    final = float(evaluation[1].mean()) if evaluate else None
    report(compile_s=compile_s, run_s=run_s, env_steps=PPO_STEPS, final_return=final)


if __name__ == "__main__":
    main()
