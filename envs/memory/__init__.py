"""Memory benchmarks for world models (and agents), in pure JAX with images rendered in JAX.

Tasks, one module per family, each measuring one capability (S4WM's, Deng et al. 2023):
- `rooms`: long-term imagination (`Memory/TwoRooms`, `Memory/FourRooms`, `Memory/TenRooms`) and
  context-dependent recall (`Memory/Teleport-TwoRooms`, `-FourRooms`, `-TenRooms`);
- `reward_cue`: reward prediction (`Memory/RewardCue`);
- `keys_doors`: memory-based reasoning (`Memory/KeysDoors`).
Every episode has a context phase and a query phase (`info["phase"]`); see `envs.memory.base`.

Each module in `FAMILIES` defines `ENTRIES` for `envs.registry`: use `envs.make(name)`.
Public API besides the registry: `envs.memory.policies.policy_for(env)` (scripted policies) and
`envs.memory.dataset` (`generate`, `save`, `load`: offline datasets). Shared pieces:
`envs.memory.grid` (rooms, movement, rendering) and `envs.memory.base` (phases, spaces).
"""

FAMILIES: tuple[str, ...] = ("rooms", "reward_cue", "keys_doors")
