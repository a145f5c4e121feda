"""Draw the lecture's window scorer with its max-margin loss: docs/window_scorer_graph.svg (and .dot).

    python docs/window_scorer_graph.py      # from the repository root; needs Graphviz's dot for the SVG

s = uᵀ tanh(W x + b) scores the true window x and the corrupted window x_c with the same W, b, u;
J = max(0, 1 − s + s_c) is the loss. Small sizes (x ∈ R²⁰, W ∈ R⁸ˣ²⁰) as in the README's first example.
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

import minigrad as mg  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def build() -> tuple[mg.Tensor, dict]:
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal(20))  # the window "museums in Paris are amazing"
    x_c = mg.tensor(rng.standard_normal(20))  # the corrupted window
    W = mg.tensor(rng.standard_normal((8, 20)), requires_grad=True)
    b = mg.zeros(8, dtype=np.float64, requires_grad=True)
    u = mg.tensor(rng.standard_normal(8), requires_grad=True)
    z = W @ x + b
    h = mg.tanh(z)
    s = u @ h
    s_c = u @ mg.tanh(W @ x_c + b)
    J = mg.maximum(0.0, 1 - s + s_c)
    return J, {"W": W, "b": b, "u": u, "x": x, "x_c": x_c, "z": z, "h": h, "s": s, "s_c": s_c, "J": J}


def main() -> None:
    J, names = build()
    mg.render_graph(J, HERE / "window_scorer_graph.dot", names=names)
    mg.render_graph(J, HERE / "window_scorer_graph.svg", names=names)
    print(f"wrote {HERE / 'window_scorer_graph.svg'} and .dot")


if __name__ == "__main__":
    main()
