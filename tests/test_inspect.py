"""Graph inspection: ``repr`` of a tensor, ``mg.to_dot`` (always tested, by parsing its text) and
``mg.render_graph`` (tested when Graphviz's ``dot`` is installed; its error when it is not)."""

from __future__ import annotations

import doctest
import re
import shutil
import subprocess

import numpy as np
import pytest

import minigrad as mg
import minigrad.graph_viz
from minigrad import nn

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot program is not installed")

_NODE = re.compile(r'^  (\w+) \[label="((?:[^"\\]|\\.)*)", (.*)\];$')
_EDGE = re.compile(r'^  (\w+) -> (\w+)(?: \[label="(\d+)"\])?;$')


def parse(text: str) -> tuple[dict, list]:
    """{node: (label lines, attributes)} and [(source, target, position label or None)] of to_dot's text.

    Every line of the body must be a node, an edge or a default: anything else fails the test.
    """
    lines = text.splitlines()
    assert lines[0] == "digraph minigrad {" and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if m := _NODE.match(line):
            assert m[1] not in nodes, f"node {m[1]} declared twice"
            label = m[2].replace('\\"', '"').split("\\n")
            nodes[m[1]] = (label, m[3])
        elif m := _EDGE.match(line):
            edges.append((m[1], m[2], m[3]))
        else:
            assert re.match(r"^  (rankdir|node|edge)\b", line), f"unexpected line {line!r}"
    for src, dst, _ in edges:
        assert src in nodes and dst in nodes, f"edge {src} -> {dst} to an undeclared node"
    return nodes, edges


def by_label(nodes: dict, first_line: str) -> list:
    return [k for k, (label, _) in nodes.items() if label[0] == first_line]


def graph_of(roots: list) -> tuple[set, set]:
    """The test's own walk: every tensor reached through _parents, and the (parent, child) id pairs."""
    seen, edges, stack = {id(r): r for r in roots}, set(), list(roots)
    while stack:
        t = stack.pop()
        for p in t._parents or ():
            if p is not None:
                edges.add((p._id, t._id))
                if id(p) not in seen:
                    seen[id(p)] = p
                    stack.append(p)
    return {t._id for t in seen.values()}, edges


# -- repr ------------------------------------------------------------------------------------------
def test_repr_shows_value_dtype_and_how_the_tensor_was_made():
    assert repr(mg.tensor([1.0, 2.0])) == "tensor([1., 2.])"  # the default dtype (float32) is not named
    assert repr(mg.tensor([1.0, 2.0], requires_grad=True)) == "tensor([1., 2.], requires_grad=True)"
    x = mg.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    assert repr(x) == "tensor([1., 2.], dtype=float64, requires_grad=True)"
    value = np.array2string(np.tanh(np.array([2.0, 4.0])), separator=", ")
    assert repr(mg.tanh(x * 2)) == f"tensor({value}, dtype=float64, grad_fn=<tanh>)"
    assert repr(mg.tensor([1, 2], dtype=np.int32)) == "tensor([1, 2], dtype=int32)"
    assert repr(mg.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(mg.tensor(3.5)) == "tensor(3.5)"
    assert repr(mg.zeros((0, 3))) == "tensor([], shape=(0, 3))"
    assert repr(nn.Parameter(np.ones(2, np.float32))) == "Parameter containing:\ntensor([1., 1.], requires_grad=True)"


def test_repr_summarises_a_big_array_as_numpy_does_and_gives_its_shape():
    data = np.arange(3000.0).reshape(30, 100)
    text = repr(mg.tensor(data, requires_grad=True) * 1.0)
    assert "..." in text and "shape=(30, 100)" in text and text.endswith("grad_fn=<multiply>)")
    assert len(text) < 1000  # summarised: not 3000 numbers
    assert np.array2string(data, separator=", ", prefix="tensor(") in text
    with np.printoptions(threshold=10_000):  # NumPy's print options rule
        assert "..." not in repr(mg.tensor(data))


# -- to_dot: structure -----------------------------------------------------------------------------
def window_scorer(dtype=np.float64):
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal(20).astype(dtype))
    W = mg.tensor(rng.standard_normal((8, 20)).astype(dtype), requires_grad=True)
    b = mg.zeros(8, dtype=dtype, requires_grad=True)
    u = mg.tensor(rng.standard_normal(8).astype(dtype), requires_grad=True)
    s = u @ mg.tanh(W @ x + b)
    return s, dict(W=W, b=b, u=u), x


def test_to_dot_of_the_window_scorer_has_its_ops_edges_shapes_and_names():
    s, params, x = window_scorer()
    nodes, edges = parse(mg.to_dot(s, names=params))
    (W,), (b,), (u,) = by_label(nodes, "W"), by_label(nodes, "b"), by_label(nodes, "u")
    assert nodes[W][0][1] == "(8, 20) float64" and nodes[b][0][1] == "(8,) float64"
    (Wx, s_node) = sorted(by_label(nodes, "matmul"), key=lambda k: int(k[1:]))  # creation order
    (z,), (h,) = by_label(nodes, "add"), by_label(nodes, "tanh")
    (xc,) = [k for k, (label, _) in nodes.items() if label == ["constant", "(20,) float64"]]
    # s = uᵀ tanh(W x + b): matmul(W, x) -> add(·, b) -> tanh -> matmul(u, ·)
    assert set(edges) == {(W, Wx, "0"), (xc, Wx, "1"), (Wx, z, None), (b, z, None), (z, h, None),
                          (u, s_node, "0"), (h, s_node, "1")}  # fmt: skip
    assert nodes[Wx][0][1:] == ["(8,) float64"] and nodes[h][0][1:] == ["(8,) float64"]
    assert nodes[s_node][0][1:] == ["() float64"] and "peripheries=2" in nodes[s_node][1]  # the output
    assert len(nodes) == 8


def test_leaves_are_told_apart_parameters_inputs_constants():
    p = nn.Parameter(np.ones(3))
    q = mg.tensor(np.ones(3), requires_grad=True)  # a leaf requiring grad, not named: an input
    r = mg.tensor(np.ones(3), requires_grad=True)  # named: drawn as a parameter
    c = mg.tensor(np.full(3, 2.0))  # no grad: only its array is in the graph
    y = (p * q + r * c + 0.5).sum()
    nodes, _ = parse(mg.to_dot(y, names={"bias": r}))
    styles = {label[0]: attrs for label, attrs in nodes.values()}
    assert styles["parameter"] == styles["bias"] != styles["input"]
    constants = [label for label, _ in nodes.values() if label[0] == "constant"]
    assert sorted(constants) == [["constant", "(3,) float64"], ["constant", "0.5"]]
    assert styles["constant"] not in (styles["parameter"], styles["input"], styles["add"])


def test_constants_and_results_can_be_named():
    s, params, x = window_scorer()
    nodes, _ = parse(mg.to_dot(s, names={**params, "x": x, "s": s}))
    labels = [label for label, _ in nodes.values()]
    assert ["x", "(20,) float64"] in labels and ["s: matmul", "() float64"] in labels
    assert not any(label[0] == "constant" for label in labels)


def test_the_readme_picture_script_draws_the_lecture_graph(tmp_path, monkeypatch):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "docs" / "window_scorer_graph.py"
    spec = importlib.util.spec_from_file_location("window_scorer_graph", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    J, names = module.build()
    nodes, edges = parse(mg.to_dot(J, names=names))
    labels = {label[0] for label, _ in nodes.values()}
    assert {"W", "b", "u", "x", "x_c", "z: add", "h: tanh", "s: matmul", "s_c: matmul", "J: maximum"} <= labels
    # W, b and u feed both scores
    for name in ("W", "b", "u"):
        (key,) = by_label(nodes, name)
        assert sum(src == key for src, _, _ in edges) == 2
    # the committed picture is this script's (node numbers do not depend on the process)
    assert path.with_suffix(".dot").read_text(encoding="utf-8") == mg.to_dot(J, names=names)


def test_named_parameters_of_a_module_label_the_graph():
    net = nn.Sequential(nn.Linear(4, 3, rng=0), nn.Tanh(), nn.Linear(3, 2, rng=1))
    out = net(np.ones((5, 4), dtype=np.float32)).sum()
    nodes, _ = parse(mg.to_dot(out, names=dict(net.named_parameters())))
    labels = {label[0]: label[1] for label, _ in nodes.values()}
    for name, p in net.named_parameters():
        assert labels[name] == f"{p.shape} float32"


def test_edges_and_nodes_match_the_graph_on_many_ops():
    rng = np.random.default_rng(1)
    x = mg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = mg.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    parts = [
        mg.softmax(x, axis=1) @ w,
        mg.log_softmax(x).sum(axis=1, keepdims=True) / mg.sqrt(mg.exp(x[:, :2]) + 1),
        mg.maximum(mg.minimum(x[:, 1:3], 0.3), -0.3) ** 2,
        mg.where(x[:, :2].data > 0, mg.sigmoid(x[:, :2]), mg.relu(-x[:, 2:])),
        mg.einsum("ij,jk->ik", x, w) - mg.concatenate([x[:, :1], x[:, 3:]], axis=1),
        mg.stack([x.max(axis=1), x.min(axis=1)], axis=1).reshape(3, 2).T.T.clip(-1, 1),
        mg.log(mg.abs(x[:, :2]) + 1).astype(np.float32).astype(np.float64) * mg.tanh(x[:, 2:]).mean(),
    ]
    y = mg.concatenate(parts, axis=1).logsumexp()
    ids, expected = graph_of([y])
    nodes, edges = parse(mg.to_dot(y))
    key = {i: f"n{k}" for k, i in enumerate(sorted(ids))}  # nodes are numbered in creation order
    graph_nodes = {k for k in nodes if k.startswith("n")}
    assert graph_nodes == set(key.values())
    assert {(s, d) for s, d, _ in edges if s.startswith("n")} == {(key[a], key[b]) for a, b in expected}
    walked_ops = {label[0].split()[0] for k, (label, _) in nodes.items() if k.startswith("n") and label[0] != "input"}
    for op in ("matmul", "exp", "logsumexp", "divide", "sqrt", "getitem", "maximum", "minimum", "power",
               "where", "sigmoid", "relu", "einsum", "subtract", "concatenate", "max", "min", "reshape",
               "transpose", "clip", "log", "absolute", "astype", "tanh", "sum"):  # fmt: skip
        assert op in walked_ops, op
    for t in _tensors(y):  # every node gives its tensor's shape and dtype on its last line
        assert nodes[key[t._id]][0][-1] == f"{t.shape} {t.dtype}"


def _tensors(root):
    out, stack, seen = [], [root], set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        out.append(t)
        stack.extend(p for p in t._parents or () if p is not None)
    return out


def test_parameters_of_ops_are_shown():
    x = mg.tensor(np.ones((2, 3)), requires_grad=True)
    y = x.sum(axis=1, keepdims=True).reshape(1, 2).transpose(1, 0)[1:].clip(0, 1)
    nodes, _ = parse(mg.to_dot(y))
    labels = [label for label, _ in nodes.values()]
    assert ["sum", "axis=1, keepdims=True", "(2, 1) float64"] in labels
    nodes, _ = parse(mg.to_dot(x.mean(axis=0, keepdims=True)))
    assert ["mean", "axis=0, keepdims=True", "(1, 3) float64"] in [label for label, _ in nodes.values()]
    assert ["reshape", "shape=(1, 2)", "(1, 2) float64"] in labels
    assert ["transpose", "axes=(1, 0)", "(2, 1) float64"] in labels
    assert ["clip", "min=0, max=1", "(1, 1) float64"] in labels
    z = mg.concatenate([np.zeros((2, 1)), mg.einsum("ij,jk->ik", x, np.ones((3, 2))), x[:, :1]], axis=1)
    nodes, edges = parse(mg.to_dot(z))
    labels = [label for label, _ in nodes.values()]
    assert sum(label[0] == "constant" for label in labels) == 2 and len(edges) == 6  # the zeros and the ones
    assert ["einsum", "ij,jk->ik", "(2, 2) float64"] in labels and ["concatenate", "axis=1", "(2, 4) float64"] in labels


def test_a_custom_function_is_named():
    class Cube(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x**3

        @staticmethod
        def backward(ctx, g):
            return g

    y = Cube.apply(mg.tensor([1.0, 2.0], requires_grad=True))
    nodes, edges = parse(mg.to_dot(y))
    assert ["function Cube", "(2,) float32"] in [label for label, _ in nodes.values()]
    assert len(edges) == 1


def test_several_outputs_and_awkward_names():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    a, b = mg.exp(x), mg.sin(x)
    text = mg.to_dot([a, b], names={'x "the input" \\ 1': x, "b": b})
    nodes, edges = parse(text)
    assert ['x "the input" \\\\ 1', "(2,) float32"] in [label for label, _ in nodes.values()]
    assert ["b: sin", "(2,) float32"] in [label for label, _ in nodes.values()]
    assert sum("peripheries=2" in attrs for _, attrs in nodes.values()) == 2 and len(edges) == 2
    if HAVE_DOT:  # the escaping is valid DOT
        subprocess.run(["dot", "-Tcanon"], input=text.encode(), check=True, capture_output=True)


def test_to_dot_rejects_what_is_not_a_tensor():
    with pytest.raises(TypeError, match="to_dot: expected a Tensor"):
        mg.to_dot(np.ones(3))


# -- to_dot: reads without changing, freed graphs, big graphs -------------------------------------
def test_to_dot_neither_frees_nor_changes_the_graph():
    s, params, _ = window_scorer()
    nodes = _tensors(s)
    before = [(t._op, t._args, t._parents, t.grad, t._data, np.array(t._data, copy=True)) for t in nodes]
    mg.to_dot(s, names=params)
    assert all(  # (the graph's own values: a value dropped as unneeded has no .data, see MINIGRAD_FORGET_ALL)
        t._op == op
        and t._args is args
        and t._parents is parents
        and t.grad is grad
        and t._data is d
        and (type(d) is not np.ndarray or np.array_equal(d, copy))
        for t, (op, args, parents, grad, d, copy) in zip(nodes, before)
    )
    s.backward()  # still works, with the right gradient: ∂s/∂u = tanh(Wx + b)
    s2, params2, x2 = window_scorer()
    np.testing.assert_allclose(params["u"].grad, np.tanh(params2["W"].data @ x2.data + params2["b"].data))


def test_a_freed_graph_is_marked_not_an_error():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = mg.tanh(x)
    s = (h * h).sum()
    s.backward()
    nodes, edges = parse(mg.to_dot(s))
    assert list(nodes.values())[0][0] == ["sum", "() float32", "(graph freed by backward)"]
    assert "dashed" in list(nodes.values())[0][1] and edges == []
    # a tensor in the middle of the freed graph is marked too
    nodes, _ = parse(mg.to_dot(h))
    assert [label for label, _ in nodes.values()] == [["tanh", "(2,) float32", "(graph freed by backward)"]]


def test_a_100000_node_chain_is_walked_without_recursion():
    x = mg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    nodes, edges = parse(mg.to_dot(y))
    assert len(nodes) == 100_002  # x, 100,000 products and the one constant 1.0 they share
    assert len(edges) == 200_000


def test_module_doctest():
    assert doctest.testmod(minigrad.graph_viz).failed == 0


# -- render_graph ----------------------------------------------------------------------------------
@needs_dot
def test_render_svg_and_png(tmp_path):
    s, params, _ = window_scorer()
    svg = mg.render_graph(s, tmp_path / "g.svg", names=params)
    text = open(svg, encoding="utf-8").read()
    assert "<svg" in text and ">tanh<" in text and ">W<" in text and text.count('class="node"') == 8
    png = mg.render_graph(s, tmp_path / "g.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    pdf = mg.render_graph(s, tmp_path / "picture", format="pdf")
    assert open(pdf, "rb").read(5) == b"%PDF-"


def test_render_dot_text_needs_no_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    s, _, _ = window_scorer()
    path = mg.render_graph(s, tmp_path / "g.dot")
    assert open(path, encoding="utf-8").read() == mg.to_dot(s)


def test_render_without_dot_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    s, _, _ = window_scorer()
    with pytest.raises(FileNotFoundError, match=r"render_graph: Graphviz's 'dot' program .* install Graphviz"):
        mg.render_graph(s, tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()


def test_render_rejects_an_unknown_format(tmp_path):
    s, _, _ = window_scorer()
    with pytest.raises(ValueError, match="render_graph: format must be one of .* got 'jpeg2000'"):
        mg.render_graph(s, tmp_path / "g.jpeg2000")
