"""Suite-wide set-up: one XLA compilation cache shared by the whole test run.

Many tests compile the same computations (a core's scan under several contracts, a trainer's
update in the test process and again in the CLI subprocesses it starts). JAX's persistent
compilation cache lets each compile once per run: the controller makes a fresh directory, the
xdist workers and every subprocess inherit it through `JAX_COMPILATION_CACHE_DIR`, and it is
removed when the run ends. A directory the user set already is used as it is and kept.

Most of the suite's time is XLA compiling small programs. Two `XLA_FLAGS` make CPU compiles
several times faster, and the conftest adds them for the workers and subprocesses alike
(a flag the user set already is kept as set):
- `--xla_backend_optimization_level=0`: LLVM does not optimise the generated code;
- `--xla_cpu_use_fusion_emitters=false`: fusions are emitted by XLA's elemental emitter
  instead of its MLIR fusion emitters.
Both compile the same optimised HLO; only the machine code differs, and results agree with
the default build's up to float rounding. A value computed twice in different fusions may
differ in the last bit, so tests compare such values up to rounding, not bitwise.
"""

import os
import shutil
import sys
import tempfile

CACHE_DIR = "JAX_COMPILATION_CACHE_DIR"
MIN_COMPILE_SECS = "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"
FAST_COMPILE_FLAGS = {
    "--xla_backend_optimization_level": "0",
    "--xla_cpu_use_fusion_emitters": "false",
}


def pytest_configure(config):
    if not os.environ.get(CACHE_DIR):  # the controller (workers inherit the variable)
        config.rlssm_cache_dir = tempfile.mkdtemp(prefix="rlssm-tests-xla-cache-")
        os.environ[CACHE_DIR] = config.rlssm_cache_dir
    os.environ.setdefault(MIN_COMPILE_SECS, "0")
    flags = os.environ.get("XLA_FLAGS", "")  # read when the backend starts, after this hook
    added = [f"{flag}={value}" for flag, value in FAST_COMPILE_FLAGS.items() if flag not in flags]
    os.environ["XLA_FLAGS"] = " ".join([flags, *added]).strip()
    if "jax" in sys.modules:  # imported before this hook: its config read the variables already
        import jax

        jax.config.update("jax_compilation_cache_dir", os.environ[CACHE_DIR])
        jax.config.update(
            "jax_persistent_cache_min_compile_time_secs", float(os.environ[MIN_COMPILE_SECS])
        )


def pytest_unconfigure(config):
    path = getattr(config, "rlssm_cache_dir", None)
    if path:
        shutil.rmtree(path, ignore_errors=True)
