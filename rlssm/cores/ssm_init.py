"""Initialisations of diagonal state-space models (S5, S4D), in closed form where one exists.

Paper symbols (Smith et al., "Simplified State Space Layers for Sequence Modeling", 2023):
`A` HiPPO-LegS matrix, `S = A + p p^T` its normal part, `Lambda`, `V` its
eigenvalues and eigenvectors, `B_tilde = V^-1 B`, `C_tilde = C V`, `Delta` time step.
`P` state size, `H` width, `J` blocks.
Every function here works in float64/complex128 NumPy: it runs once, at init.
"""

import functools

import numpy as np


def hippo_legs(n: int) -> np.ndarray:
    """HiPPO-LegS matrix `A[n, n]`: `-sqrt(2i+1) sqrt(2k+1)` below the diagonal, `-(i+1)` on it."""
    q = np.sqrt(2.0 * np.arange(n) + 1.0)
    return -(np.tril(np.outer(q, q), k=-1) + np.diag(np.arange(n) + 1.0))


@functools.lru_cache(maxsize=32)
def hippo_legs_normal(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Diagonalises the normal part `S = A + p p^T` of HiPPO-LegS (`p_i = sqrt(i + 1/2)`).

    `S = -1/2 I + K` with `K` skew-symmetric, so its eigenvalues are `-1/2 + i w` where `i w` are
    the eigenvalues of `K` (from the Hermitian `-i K`), and the eigenvectors `V` are unitary.

    Returns:
        `(Lambda[n] complex, V[n, n] complex)`, sorted by imaginary part (negative first).
    """
    p = np.sqrt(np.arange(n) + 0.5)
    normal = hippo_legs(n) + np.outer(p, p)
    skew = normal - np.diag(np.diag(normal))
    w, v = np.linalg.eigh(-1j * skew)
    return np.mean(np.diag(normal)) + 1j * w, v


def block_diagonal_hippo(
    state_size: int, blocks: int, conj_sym: bool
) -> tuple[np.ndarray, np.ndarray]:
    """S5's block-diagonal HiPPO initialisation with `J = blocks` copies of size `P / J`.

    With `conj_sym`, only one eigenvalue of each conjugate pair is kept (`P / 2` states); the model
    then outputs `2 Re(C_tilde h)`.

    Returns:
        `(Lambda[P'] complex, V[P, P'] complex)` with `P' = P / 2` under `conj_sym`, else `P`.
    """
    size = state_size // blocks
    keep = size // 2 if conj_sym else size
    lam, v = hippo_legs_normal(size)
    lam, v = lam[:keep], v[:, :keep]
    big_v = np.zeros((state_size, keep * blocks), complex)
    for j in range(blocks):
        big_v[j * size : (j + 1) * size, j * keep : (j + 1) * keep] = v
    return np.tile(lam, blocks), big_v
