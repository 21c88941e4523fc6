"""The model-based agent (agents.dreamer) on the shared run lifecycle.

    trainer.py   DreamerTrainer (config types, compiled chunk programs, summary, report),
                 TrainArgs(dreamer, run)
    presets.py   named starting points
    cli.py       the command line (`python -m experiments.dreamer`, `rlssm-dreamer`)

Nothing is imported here, so `experiments.dreamer.trainer` can be used without the command line.
"""
