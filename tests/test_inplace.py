"""The in-place guard: writing to an array that the graph saved for backward raises, naming tensor and op."""

from __future__ import annotations

import gc
import threading
import weakref

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
    x = mg.tensor(RNG.standard_normal((5, 3), dtype=np.float32))
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


def test_an_array_taken_from_data_while_saved_stays_guarded():
    w = _weights(3)
    loss = (w * w).sum()
    kept = w.data  # a GuardedArray: the graph holds w
    with pytest.raises(mg.InplaceError, match="'multiply'"):
        kept[0] = 5.0
    with pytest.raises(mg.InplaceError, match=r"np\.copyto"):
        np.copyto(kept, 0.0)
    loss.backward()


def test_a_constant_tensor_read_by_a_rule_is_guarded_too():
    c = mg.tensor(RNG.standard_normal(3))  # no grad: multiply's rule for w reads it
    w = _weights(3)
    loss = (w * c).sum() + (mg.tensor(np.ones((2, 3))) @ w).sum()
    with pytest.raises(mg.InplaceError, match=r"the tensor of shape \(3,\) \(float64, a leaf\) is saved by 'multiply'"):
        c.data[0] = 1.0
    loss.backward()
    np.testing.assert_allclose(w.grad, c.data + 2.0)
    c.data[0] = 1.0  # released


def test_plain_arrays_handed_to_an_operation_are_the_callers():
    # as with torch.from_numpy, memory the caller owns outright is not watched: docs/reliability.md says so
    x = RNG.standard_normal(3)
    w = _weights(3)
    loss = (w * x).sum()
    x[0] = 1.0  # not refused
    loss.backward()
    np.testing.assert_allclose(w.grad, x)  # the node kept the same array, so it sees the new value


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
    x.data = np.zeros(3)  # rebinding a leaf: the graph keeps the old array, so the gradient stays right
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * old)


# -- no false alarms --------------------------------------------------------------------------------
def test_operations_whose_rules_read_nothing_leave_the_array_writeable():
    x = _weights(3)
    y = (x + 1.0).sum()  # add's and sum's rules read no values
    x.data[...] = 7.0
    y.backward()
    np.testing.assert_allclose(x.grad, np.ones(3))
    w = _weights(2, 3)
    h = w + 1.0
    m = h.mean(axis=0)  # mean's rule reads shapes only: nothing holds h (also with Python 3.13's fused loads)
    h.data[...] = 0.0
    m.sum().backward()
    np.testing.assert_allclose(w.grad, np.full((2, 3), 0.5))


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
    x, y = mg.tensor(RNG.standard_normal((16, 5), dtype=np.float32)), RNG.integers(0, 3, 16)
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


# -- found by review: each of these was silently wrong or a false alarm ------------------------------
def test_a_kept_view_is_checked_at_every_write_not_only_the_first():
    w = _weights(3)
    first = (w * w).sum()
    kept = w.data  # taken while held: the guarded view
    first.backward()
    kept[...] = [1.0, 2.0, 3.0]  # nothing holds w: allowed
    loss = (w * w).sum()  # held again
    with pytest.raises(mg.InplaceError, match="'multiply'"):
        kept += 100.0
    w.grad = None
    loss.backward()
    np.testing.assert_allclose(w.grad, [2.0, 4.0, 6.0])


def test_ufunc_at_on_saved_data_is_refused():
    w = _weights(2)
    loss = (w * w).sum()
    with pytest.raises(mg.InplaceError, match=r"np\.add\.at"):
        np.add.at(w.data, [0], 100.0)
    loss.backward()


def test_a_slice_kept_for_logging_does_not_keep_the_graph_alive():
    w = _weights(3)
    probs = mg.sigmoid(w * w)  # multiply holds w
    logged = probs.data[probs.data > 0.5]  # derived from the guarded view
    ref = weakref.ref(probs)
    del probs
    gc.collect()
    assert ref() is None  # the kept slice did not pin the graph...
    w.data[...] = 0.0  # ...so nothing holds w any more (InplaceError if it did)
    assert logged.size <= 3


def test_the_message_names_the_op_of_a_value_held_on_itself():
    h = mg.tanh(_weights(3))
    with pytest.raises(mg.InplaceError, match=r"saved by 'tanh'"):
        h.data[0] = 0.0


def test_np_array_of_a_tensor_is_a_copy():
    c = mg.tensor([1.0, 2.0, 3.0])
    loss = (_weights(3) * c).sum()  # c is held
    a = np.array(c)  # a copy, as NumPy 2 asks (np.asarray shares)
    a[0] = 100.0
    assert c.data[0] == 1.0
    loss.backward()


@pytest.mark.parametrize("make", ["getitem", "where", "clip", "function"])
def test_constant_tensors_read_by_any_primitive_are_guarded(make):
    x = _weights(3)

    class Scale(mg.Function):
        @staticmethod
        def forward(ctx, a, s):
            ctx.save_for_backward(s)
            return a * s

        @staticmethod
        def backward(ctx, g):
            (s,) = ctx.saved
            return g * s, None

    c = {
        "getitem": mg.tensor(np.array([2])),
        "where": mg.tensor(np.array([True, False, True])),
        "clip": mg.tensor(np.array([-0.5, -0.5, -0.5])),
        "function": mg.tensor(np.array([4.0, 5.0, 6.0])),
    }[make]
    y = {
        "getitem": lambda: x[c],
        "where": lambda: mg.where(c, x, 0.0),
        "clip": lambda: mg.clip(x, c),
        "function": lambda: Scale.apply(x, c),
    }[make]()
    loss = (y * y).sum()
    with pytest.raises(mg.InplaceError):
        c.data[...] = 0
    loss.backward()


def test_the_first_compiled_call_returns_values_without_the_traced_graph():
    w = _weights(3)

    @mg.compile
    def step(x):
        out = (mg.tanh(w * x)).sum()
        out.backward()
        return out

    out = step(np.ones(3))
    assert out._op is None and not out.requires_grad  # as every replay returns it
    w.data[...] = 1.0  # the trace let go of w


def test_variadic_rules_hold_only_what_they_read():
    x = _weights(2)
    y = (mg.concatenate([x, x]) * 1.0).sum()  # concatenate's rule slices g: it reads no values
    x.data[0] = 5.0
    a, b = _weights(2, 2), mg.tensor(np.ones((2, 2)))
    z = mg.einsum("ij,jk->ik", a, b)
    loss = (z * 2.0).sum()
    z.data[0, 0] = 1.0  # einsum's own value is not read
    with pytest.raises(mg.InplaceError, match="'einsum'"):
        b.data[0, 0] = 3.0  # a's gradient reads b
    loss.backward()
    y.backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])
