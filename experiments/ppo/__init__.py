"""Recurrent PPO on the shared run lifecycle.

    trainer.py   PPOTrainer (config types, compiled chunk programs, summary, report), TrainArgs
    presets.py   named starting points
    cli.py       the command line (`python -m experiments.ppo`, `rlssm-ppo`)

Nothing is imported here, so `experiments.ppo.trainer` can be used without the command line.
"""
