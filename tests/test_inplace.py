"""The in-place guard: writing to an array that the graph saved for backward raises, naming tensor and op."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.guarded_array import GuardedArray

RNG = np.random.default_rng(0)


def _weights(*shape: int) -> mg.Tensor:
    return mg.tensor(RNG.standard_normal(shape), requires_grad=True)


# -- each way of writing, caught with a message that names the tensor and the op ---------------------
def test_setitem_on_a_saved_leaf_names_the_tensor_and_the_op():
    w = _weights(3)
    loss = (w * w).sum()
    with pytest.raises(mg.InplaceError, match=r"t\.data\[\.\.\.\] = value: the tensor of shape \(3,\).*'multiply'"):
        w.data[...] = 0.0
    loss.backward()
    np.testing.assert_allclose(w.grad, 2 * w.data)  # the gradient saw the values before the refused write
    w.data[...] = 0.0  # backward freed the graph: writing is fine now
    assert np.all(w.data == 0)


def test_augmented_assignment_on_a_saved_intermediate_names_its_op():
    x = _weights(4)
    h = mg.tanh(x)  # tanh's rule reads h itself
    loss = h.sum()
    with pytest.raises(
        mg.InplaceError, match=r"t\.data \+= value: the tensor of shape \(4,\) \(float64, made by 'tanh'\)"
    ):
        h.data += 1.0
    loss.backward()
    np.testing.assert_allclose(x.grad, 1 - np.tanh(x.data) ** 2)


def test_ufunc_with_out_on_saved_data_is_refused():
    w = _weights(2, 2)
    loss = (w @ w).sum()
    with pytest.raises(mg.InplaceError, match=r"np\.add\(\.\.\., out=t\.data\).*'matmul'"):
        np.add(w.data, 1.0, out=w.data)
    loss.backward()


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1), lambda ps: optim.Adam(ps, lr=0.1)])
def test_optimizer_step_before_backward_is_refused(make):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    opt = make(list(model.parameters()))  # [w1, b1, w2, b2]
    x = mg.tensor(RNG.standard_normal((5, 3)))
    model(x).sum().backward()  # gradients from a first step
    loss = mg.tanh(model(x)).sum()  # a second forward, not yet backpropagated: the gradient of h1 reads w2
    before = [p.data.copy() for p in model.parameters()]
    with pytest.raises(mg.InplaceError, match=r"\.step \(parameter 2\): the parameter of shape \(2, 4\).*'matmul'"):
        opt.step()
    for p, b in zip(model.parameters(), before):  # all or nothing: no parameter moved
        np.testing.assert_array_equal(p.data, b)
    loss.backward()
    opt.step()  # fine once the graph is gone


def test_a_weight_no_rule_reads_may_change_before_backward():
    # d/dw sum(x wᵀ) = 1ᵀx does not involve w, so nothing saves w (as in PyTorch): an update is harmless
    w = _weights(2, 3)
    x = mg.tensor(RNG.standard_normal((4, 3)))
    loss = (x @ w.T).sum()
    w.data[...] = 0.0
    loss.backward()
    np.testing.assert_allclose(w.grad, np.ones((4, 2)).T @ x.data)


def test_a_raw_reference_to_a_leaf_array_is_read_only_while_saved():
    w = _weights(3)
    raw = w.data  # taken before the graph exists: a plain array
    loss = (w * w).sum()
    with pytest.raises(ValueError, match="read-only"):
        raw[0] = 5.0
    loss.backward()
    raw[0] = 5.0
    assert w.data[0] == 5.0


def test_a_constant_array_read_by_a_rule_is_read_only_while_saved():
    x = RNG.standard_normal(3)  # a plain array handed to an operation: multiply's rule for w reads it
    w = _weights(3)
    loss = (w * x).sum()
    with pytest.raises(ValueError, match="read-only"):
        x[0] = 1.0
    loss.backward()
    np.testing.assert_allclose(w.grad, x)
    x[0] = 1.0  # released


def test_writing_through_the_weight_of_a_transposed_view_is_caught():
    w = _weights(2, 3)
    x = _weights(4, 3)
    loss = (x @ w.T).sum()  # the gradient of x reads w.T, a view of w's memory
    with pytest.raises(mg.InplaceError, match="'matmul'"):
        w.data[0, 0] = 9.0
    loss.backward()
    np.testing.assert_allclose(w.grad, np.ones((4, 2)).T @ x.data)


def test_setting_data_of_a_node_whose_rule_reads_its_value_is_refused_but_leaves_may_be_rebound():
    x = _weights(3)
    h = mg.exp(x)
    with pytest.raises(mg.InplaceError, match=r"t\.data = value.*'exp'"):
        h.data = np.zeros(3)
    old = x.data.copy()
    loss = (x * x).sum()
    replaced = x._data
    x.data = np.zeros(3)  # rebinding a leaf: the graph keeps the old array, so the gradient stays right
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * old)
    assert x.data.flags.writeable and not replaced.flags.writeable  # the old array, still the graph's, stays read-only


# -- no false alarms --------------------------------------------------------------------------------
def test_operations_whose_rules_read_nothing_leave_the_array_writeable():
    x = _weights(3)
    y = (x + 1.0).sum()  # add's and sum's rules read no values
    x.data[...] = 7.0
    y.backward()
    np.testing.assert_allclose(x.grad, np.ones(3))


def test_a_graph_dropped_without_backward_releases_its_arrays_without_the_collector():
    gc.disable()
    try:
        w = _weights(3)
        x = np.ones(3)
        loss = mg.tanh(w * x).sum()
        del loss
        w.data[...] = 1.0
        x[...] = 2.0
    finally:
        gc.enable()


def test_retain_graph_keeps_the_guard_until_the_graph_is_dropped():
    w = _weights(3)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    with pytest.raises(mg.InplaceError):
        w.data += 1.0
    loss.backward()  # the second pass frees it
    w.data += 1.0


def test_two_graphs_on_one_weight_release_it_only_when_both_are_done():
    w = _weights(3)
    a = (w * w).sum()
    b = mg.sin(w).sum()
    a.backward()
    with pytest.raises(mg.InplaceError, match="'sin'"):
        w.data[0] = 0.0
    b.backward()
    w.data[0] = 0.0


def test_a_create_graph_gradient_keeps_the_parameter_guarded_until_it_is_dropped():
    p = _weights(2)
    (p**3).sum().backward(create_graph=True)
    with pytest.raises(mg.InplaceError):
        p.data[0] = 1.0
    p.grad = None
    gc.collect()
    p.data[0] = 1.0


def test_the_guarded_array_reads_like_the_array():
    x = _weights(3)
    h = mg.tanh(x)
    d = h.data
    assert isinstance(d, GuardedArray)
    assert type(np.tanh(d)) is np.ndarray and type(d + 1) is np.ndarray and type(d.sum()) is not GuardedArray
    copy = d.copy()
    assert type(copy) is np.ndarray and copy.flags.writeable
    copy[0] = 10.0  # a copy is the caller's
    np.testing.assert_array_equal(d, np.tanh(x.data))
    assert repr(d) == repr(np.tanh(x.data))
    h.sum().backward()
    assert type(h.data) is np.ndarray and h.data.flags.writeable


def test_a_guarded_array_kept_past_backward_becomes_writeable():
    w = _weights(3)
    loss = (w * w).sum()
    kept = w.data
    loss.backward()
    kept[0] = 3.0  # the graph is gone, so the write goes through
    assert w.data[0] == 3.0


def test_training_loop_with_every_optimizer_never_trips_the_guard():
    model = nn.Sequential(nn.Linear(5, 8), nn.Linear(8, 3))
    x, y = mg.tensor(RNG.standard_normal((16, 5))), RNG.integers(0, 3, 16)
    for opt in (optim.SGD(model.parameters(), lr=0.1, momentum=0.9), optim.Adagrad(model.parameters()),
                optim.Adam(model.parameters())):  # fmt: skip
        for _ in range(5):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    assert all(p.data.flags.writeable for p in model.parameters())


def test_shared_weights_in_two_threads_are_released_at_the_end():
    w = _weights(8, 8)
    barrier = threading.Barrier(2)
    errors: list = []

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(300):
                x = mg.tensor(RNG.standard_normal((4, 8)))
                mg.tanh(x @ w).sum().backward()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert w._held == 0
    w.data[...] = 0.0  # nothing holds it any more
