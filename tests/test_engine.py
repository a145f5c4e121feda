"""The backward engine: order, accumulation, aliasing, freeing, grad modes, deep graphs."""

import gc
import threading
import weakref

import numpy as np
import pytest

import minigrad as mg


def test_diamond_accumulates_both_paths():
    x = mg.tensor(1.5, requires_grad=True)
    a = mg.tanh(x)
    y = a * a + a  # a reached three times
    y.backward()
    t = np.tanh(1.5)
    assert np.isclose(x.grad, (2 * t + 1) * (1 - t**2))


def test_grad_accumulates_across_backward_calls_until_cleared():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_grads_never_alias_each_other_or_the_gradient_passed_in():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0], requires_grad=True)
    c = mg.tensor([[1.0, 2.0]], requires_grad=True)
    seed = np.array([1.0, 1.0])
    (a + b + c.reshape(2)).backward(seed)  # add hands the same g to every parent
    grads = [a.grad, b.grad, c.grad]
    for i in range(3):
        assert not np.shares_memory(grads[i], seed)
        for j in range(i):
            assert not np.shares_memory(grads[i], grads[j])
    a.grad[0] = 100.0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    np.testing.assert_array_equal(seed, [1.0, 1.0])


def test_accumulation_never_writes_into_a_shared_gradient():
    # x gets g from `add` twice (shared array) and once from multiply; the first g must not be mutated
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = mg.tensor([5.0, 7.0], requires_grad=True)
    s = x + y
    (s + x * 2 + x).sum().backward()
    np.testing.assert_array_equal(y.grad, [1.0, 1.0])
    np.testing.assert_array_equal(x.grad, [4.0, 4.0])


def test_leaf_used_as_root():
    x = mg.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad == 1.0


def test_chain_of_100000_ops_needs_no_recursion():
    x = mg.tensor([0.5, -0.25], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_wide_graph_of_many_branches():
    x = mg.tensor(np.arange(3.0), requires_grad=True)
    total = mg.sum(mg.stack([x * float(k) for k in range(2000)]))
    total.backward()
    np.testing.assert_allclose(x.grad, np.full(3, sum(range(2000))))


def test_second_backward_through_a_freed_graph_is_an_error():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = mg.tanh(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="already freed.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = mg.exp(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * np.exp([1.0, 2.0]))


def test_backward_frees_intermediate_buffers_and_graph():
    x = mg.tensor(np.ones(3), requires_grad=True)
    h = mg.tanh(x)
    y = (h * 2).sum()
    y.backward()
    assert h._args is None and h._parents is None and y._parents is None


def test_a_step_graph_is_freed_without_the_garbage_collector():
    gc.disable()
    try:
        w = mg.tensor(np.ones((4, 3)), requires_grad=True)
        x = mg.tensor(np.ones(3))
        h = mg.tanh(w @ x)
        loss = (h * h).sum()
        refs = [weakref.ref(t) for t in (h, loss)]
        loss.backward(retain_graph=True)  # even a retained graph is a DAG without cycles
        del h, loss
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


def test_no_grad_records_nothing_and_works_as_a_decorator():
    x = mg.tensor([1.0], requires_grad=True)
    with mg.no_grad():
        y = x * 2
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @mg.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    with mg.no_grad():
        with mg.enable_grad():
            assert (x * 2).requires_grad


def test_no_grad_is_thread_local():
    x = mg.tensor([1.0], requires_grad=True)
    inside, outside = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with mg.no_grad():
            inside.set()
            outside.wait(5)
            seen["worker"] = (x * 2).requires_grad

    t = threading.Thread(target=worker)
    t.start()
    inside.wait(5)
    seen["main"] = (x * 2).requires_grad  # the other thread is inside no_grad right now
    outside.set()
    t.join()
    assert seen == {"main": True, "worker": False}


def test_graphs_built_in_two_threads_backprop_correctly():
    results = {}

    def worker(k):
        x = mg.tensor(np.full(3, float(k)), requires_grad=True)
        for _ in range(200):
            (x * x * k).sum().backward()
        results[k] = x.grad

    threads = [threading.Thread(target=worker, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in (1, 2):
        np.testing.assert_allclose(results[k], 200 * 2 * k * np.full(3, float(k)))


def test_detach_cuts_the_graph_and_shares_data():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.data is x.data
    (x * d).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])  # d is a constant


def test_requires_grad_propagates_only_from_inputs_that_require_it():
    x = mg.tensor([1.0], requires_grad=True)
    c = mg.tensor([2.0])
    assert (x * c).requires_grad and not (c * c).requires_grad
    assert (c + x).grad_fn == "add" and (c + c).grad_fn is None
    y = c * c
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_only_inputs_that_require_grad_get_grads():
    x = mg.tensor([1.0], requires_grad=True)
    c = mg.tensor([2.0])
    (x * c).sum().backward()
    assert c.grad is None and x.grad is not None


def test_non_scalar_backward_needs_a_gradient_of_the_right_shape():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*scalar"):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(2,\) but the output has shape \(3,\)"):
        y.backward(np.ones(2))
    y.backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, -2.0])


def test_the_rule_table_differentiates_through_itself():
    # create_graph runs the rules on Tensors: d²/dx² tanh(x) = -2 tanh(x) (1 - tanh²(x)), from the same table
    from minigrad.engine import backward_pass

    x = mg.tensor([0.3, -1.2], dtype=np.float64, requires_grad=True)
    y = mg.tanh(x)
    (dx,) = backward_pass(y, mg.ones(2, dtype=np.float64), retain_graph=True, create_graph=True, inputs=[x]).values()
    assert dx.requires_grad
    dx.sum().backward()
    t = np.tanh([0.3, -1.2])
    np.testing.assert_allclose(dx.data, 1 - t**2)
    np.testing.assert_allclose(x.grad, -2 * t * (1 - t**2))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_bias_gradient_over_many_rows_is_the_column_sum(dtype):
    # from 64 rows unbroadcast sums the rows by a BLAS product 1ᵀG: it must still be Σ over rows, in the dtype
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 4)).astype(dtype)
    g = rng.standard_normal((300, 4)).astype(dtype)
    b = mg.tensor(np.zeros(4, dtype=dtype), requires_grad=True)
    (mg.tensor(x) + b).backward(g)
    assert b.grad.dtype == dtype and b.grad.shape == (4,)
    np.testing.assert_allclose(b.grad, g.astype(np.float64).sum(axis=0), rtol=1e-5 if dtype == np.float32 else 1e-12)
