"""Suite-wide set-up: one XLA compilation cache shared by the whole test run.

Many tests compile the same computations (a core's scan under several contracts, a trainer's
update in the test process and again in the CLI subprocesses it starts). JAX's persistent
compilation cache lets each compile once per run: the controller makes a fresh directory, the
xdist workers and every subprocess inherit it through `JAX_COMPILATION_CACHE_DIR`, and it is
removed when the run ends. A directory the user set already is used as it is and kept.

Most of the suite's time is XLA compiling small programs, and most of a CPU compile is LLVM
optimising the generated code. The suite runs with LLVM's optimisation level at 0
(`--xla_backend_optimization_level=0`, added to `XLA_FLAGS` for the workers and subprocesses
alike): the same HLO passes and the same IEEE arithmetic, slower machine code for the few
tests that run long. On 2 cores it took `make test`'s pytest from 1,085 s to 657 s. An
optimisation level the user set in `XLA_FLAGS` is kept.
"""

import os
import shutil
import sys
import tempfile

CACHE_DIR = "JAX_COMPILATION_CACHE_DIR"
MIN_COMPILE_SECS = "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"
OPT_LEVEL = "--xla_backend_optimization_level"


def pytest_configure(config):
    if not os.environ.get(CACHE_DIR):  # the controller (workers inherit the variable)
        config.rlssm_cache_dir = tempfile.mkdtemp(prefix="rlssm-tests-xla-cache-")
        os.environ[CACHE_DIR] = config.rlssm_cache_dir
    os.environ.setdefault(MIN_COMPILE_SECS, "0")
    flags = os.environ.get("XLA_FLAGS", "")
    if OPT_LEVEL not in flags:  # read when the backend starts, after this hook
        os.environ["XLA_FLAGS"] = f"{flags} {OPT_LEVEL}=0".strip()
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
