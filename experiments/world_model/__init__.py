"""World-model training on the memory benchmarks, on the shared run lifecycle.

    config.py    Experiment (what is trained on which data, and how), WorldModelRunConfig,
                 TrainArgs(experiment, run)
    data.py      datasets played by the tasks' scripted policies, cached with a checksum
    trainer.py   WorldModelTrainer (dataset, compiled update, evaluation, summary, report)
    plots.py     loss curves, frame strips, MSE against the query horizon
    presets.py   named starting points
    cli.py       the command line (`python -m experiments.world_model`, `rlssm-wm`)

Nothing is imported here, so the parts can be used without the command line.
"""
