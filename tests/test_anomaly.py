"""detect_anomaly: the first NaN/Inf in forward or backward raises, naming the op and the user's line."""

from __future__ import annotations

import inspect
import threading
import warnings

import numpy as np
import pytest

import minigrad as mg

HERE = __file__.rsplit("/", 1)[-1]


def _line() -> int:
    """The line number of the caller's next line."""
    return inspect.currentframe().f_back.f_lineno + 1


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's own warnings for log(0), 1/0...
        yield


def test_nan_in_forward_names_the_op_and_the_line_that_created_it():
    x = mg.tensor([1.0, -1.0], requires_grad=True)
    with mg.detect_anomaly(), pytest.raises(mg.AnomalyError) as info:
        line = _line()
        mg.log(x)
    message = str(info.value)
    assert "forward of 'log' produced nan from inputs without NaN" in message
    assert f'{HERE}", line {line}' in message and "mg.log(x)" in message


def test_inf_from_a_binary_op_and_from_a_recorded_primitive():
    x = mg.tensor([1.0, 0.0], dtype=np.float64, requires_grad=True)
    with mg.detect_anomaly():
        with pytest.raises(mg.AnomalyError, match=r"forward of 'divide' produced inf .*shapes \(\), \(2,\)"):
            _ = 1.0 / x
        w = mg.tensor([[1e200, 1e200]], dtype=np.float64, requires_grad=True)
        with pytest.raises(mg.AnomalyError, match=r"forward of 'matmul' produced inf"):
            _ = w @ mg.tensor([[1e200], [1e200]], dtype=np.float64)


def test_values_that_only_pass_through_are_not_anomalies_but_a_nan_made_from_them_is():
    scores = mg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    mask = np.array([[0.0, -np.inf, 0.0]])  # an attention mask: -inf where a position may not be seen
    with mg.detect_anomaly():
        loss = mg.log_softmax(scores + mask, axis=-1)[0, 0]  # finite: the masked position just drops out
        loss.backward()
        np.testing.assert_allclose(scores.grad, [[1 - 1 / (1 + np.e**2), 0.0, -(np.e**2) / (1 + np.e**2)]])
        x = mg.tensor([np.nan, 1.0], requires_grad=True)
        mg.tanh(x)  # a NaN in the data passes through: not tanh's doing
        with pytest.raises(mg.AnomalyError, match=r"'subtract' produced nan from inputs without NaN"):
            _ = mg.tensor([np.inf]) - mg.tensor([np.inf], requires_grad=True)  # inf − inf makes one


def test_one_instance_entered_inside_itself_restores_the_outer_state():
    guard = mg.detect_anomaly()
    with guard:
        with guard:
            assert mg.is_anomaly_enabled()
        assert mg.is_anomaly_enabled()
    assert not mg.is_anomaly_enabled()


def test_inf_in_backward_names_the_op_and_where_its_node_was_created():
    x = mg.tensor([4.0, 0.0], requires_grad=True)
    with mg.detect_anomaly():
        line = _line()
        y = mg.sqrt(x)  # finite forward: sqrt(0) = 0
        with pytest.raises(mg.AnomalyError) as info:
            y.sum().backward()
    message = str(info.value)
    assert "backward of 'sqrt' (input 0) produced inf from a finite upstream gradient" in message
    assert f'{HERE}", line {line}' in message and "mg.sqrt(x)" in message


def test_backward_check_in_the_recorded_walk():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    with mg.detect_anomaly():
        y = (x**3).sum()
        with pytest.raises(mg.AnomalyError, match=r"backward of 'sqrt'"):
            z = mg.sqrt(x).sum()
            z.backward(create_graph=True)
        del y


def test_outside_anomaly_mode_nan_goes_through_as_in_numpy():
    x = mg.tensor([-1.0], requires_grad=True)
    y = mg.log(x)
    assert np.isnan(y.data).all()
    assert not mg.is_anomaly_enabled()


def test_nodes_created_outside_the_block_are_said_to_be():
    x = mg.tensor([0.0], requires_grad=True)
    y = mg.sqrt(x)
    with mg.detect_anomaly(), pytest.raises(mg.AnomalyError, match=r"created outside detect_anomaly"):
        y.sum().backward()


def test_decorator_nesting_and_threads():
    @mg.detect_anomaly()
    def f(x):
        return mg.log(x)

    with pytest.raises(mg.AnomalyError):
        f(mg.tensor([0.0]))
    assert not mg.is_anomaly_enabled()

    with mg.detect_anomaly():
        with mg.detect_anomaly():
            pass
        assert mg.is_anomaly_enabled()  # the inner block does not switch the outer one off
        seen = []
        other = threading.Thread(target=lambda: seen.append((mg.is_anomaly_enabled(), mg.log(mg.tensor([0.0])))))
        other.start()
        other.join()
        assert seen[0][0] is False and np.isneginf(seen[0][1].data).all()  # the other thread is unaffected
