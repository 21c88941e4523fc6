"""POPGym task families in pure JAX, one module per family.

Each module in ``FAMILIES`` defines ``ENTRIES``, a dict from registry names (``RepeatFirstEasy``,
``StatelessCartPoleHard``, ...) to factories returning ``(env, params)``; ``envs.registry`` collects
them. Use ``envs.make(name)`` rather than importing a family module.
"""

FAMILIES: tuple[str, ...] = (
    "repeat_first",
    "repeat_previous",
    "autoencode",
    "count_recall",
    "higher_lower",
    "concentration",
    "battleship",
    "minesweeper",
    "multiarmed_bandit",
    "labyrinth_escape",
    "labyrinth_explore",
    "stateless",
    "parity",
)
