"""Issue #20 for nn: layers or parameters kept in a plain list, tuple or dict are refused with the fix, and
ModuleList, ModuleDict, ParameterList and ParameterDict register theirs as torch.nn does (``layers.0.weight``)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.nn import functional as F


def holder(value):
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.keep = value

    return Holder


@pytest.mark.parametrize(
    "make, where, what, fix",
    [
        (lambda: [nn.Linear(2, 2)], "keep[0]", "a Linear module", "nn.ModuleList"),
        (lambda: (nn.Tanh(), nn.Linear(2, 2)), "keep[0]", "a Tanh module", "nn.ModuleList"),
        (lambda: {"enc": nn.Linear(2, 2)}, "keep['enc']", "a Linear module", "nn.ModuleDict"),
        (lambda: [nn.Parameter(np.ones(3))], "keep[0]", r"a parameter of shape \(3,\)", "nn.ParameterList"),
        (
            lambda: {"w": mg.tensor([1.0], requires_grad=True)},
            "keep['w']",
            r"a parameter of shape \(1,\)",
            "nn.ParameterDict",
        ),
        (lambda: [1, [2, [nn.ReLU()]]], "keep[1][1][0]", "a ReLU module", "nn.ModuleList"),
    ],
)
def test_a_plain_container_of_modules_or_parameters_is_refused_with_the_fix(make, where, what, fix):
    with pytest.raises(
        TypeError, match=rf"Holder: the attribute 'keep' is a plain \w+ holding {what} at {re.escape(where)},"
    ) as e:
        holder(make())()
    assert f"self.keep = {fix}(...)" in str(e.value) and "not be trained, saved by state_dict()" in str(e.value)


def test_layers_put_into_a_plain_list_after_it_was_set_are_refused_at_the_next_traversal():
    class Appended(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = []
            self.slots = [None, None]
            self.layers.append(nn.Linear(2, 2))

    model = Appended()
    for use in (model.parameters, model.state_dict, model.eval, lambda: optim.Adam(model.parameters())):
        with pytest.raises(TypeError, match=r"'layers' is a plain list holding a Linear module at layers\[0\]"):
            list(use() or ())
    object.__setattr__(model, "layers", [])  # emptied behind __setattr__'s back: fine again
    model.history = [0.0] * 100  # a long list: the entries appended since are looked through
    model.state_dict()
    model.history.append(nn.Tanh())
    with pytest.raises(TypeError, match=r"'history' is a plain list holding a Tanh module at history\[100\]"):
        model.zero_grad()
    del model.history
    model.slots[1] = nn.Parameter(np.ones(2))  # replaced in place, same length: still seen (a short list)
    with pytest.raises(TypeError, match=r"'slots' is a plain list holding a parameter of shape \(2,\) at slots\[1\]"):
        model.state_dict()


def test_plain_containers_of_other_values_stay_allowed_and_object_setattr_opts_out():
    words = [f"w{i}" for i in range(1000)]
    model = holder({"index": {w: i for i, w in enumerate(words)}, "shape": (3, 4), "words": words})()
    assert model.state_dict() == {}
    teacher = nn.Linear(2, 2)
    object.__setattr__(model, "teacher", [teacher])  # kept unregistered on purpose, as a torch user does
    assert list(model.parameters()) == []


def test_deleting_an_attribute_unregisters_it():
    layer = nn.Linear(3, 2)
    del layer.bias
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    net = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    del net[0].weight, net[0].bias
    assert list(net.state_dict()) == []


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(3, 3, dtype=np.float64, rng=i) for i in range(2)])
        self.layers.append(nn.Dropout(0.5, rng=0))
        self.heads = nn.ModuleDict({"tag": nn.Linear(3, 2, dtype=np.float64, rng=5)})
        self.scales = nn.ParameterList([np.ones(3)])
        self.extra = nn.ParameterDict({"shift": np.zeros(3)})

    def forward(self, x):
        for layer in self.layers:
            x = mg.tanh(layer(x)) * self.scales[0] + self.extra["shift"]
        return self.heads["tag"](x)


def test_containers_register_for_training_saving_and_eval_with_torchs_names():
    model = Stack()
    assert list(model.state_dict()) == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
        "heads.tag.weight", "heads.tag.bias", "scales.0", "extra.shift",
    ]  # fmt: skip
    before = model.state_dict()
    opt = optim.SGD(model.parameters(), lr=0.1)
    F.cross_entropy(model(np.ones((4, 3))), np.array([0, 1, 1, 0])).backward()
    opt.step()
    assert all(not np.array_equal(before[k], v) for k, v in model.state_dict().items()), "every entry trained"
    model.eval()
    assert not model.layers[2].training
    model.load_state_dict(before)
    assert np.array_equal(model.layers[1].weight.data, before["layers.1.weight"])
    w = mg.tensor(before["layers.0.weight"] * 0, requires_grad=True)
    assert nn.functional_call(model, {"layers.0.weight": w}, np.ones((1, 3))).shape == (1, 2)


def test_module_list_is_a_list():
    a, b, c, d = nn.Tanh(), nn.ReLU(), nn.Sigmoid(), nn.Identity()
    layers = nn.ModuleList([a, b])
    layers += [c]
    layers.insert(0, d)
    assert list(layers) == [d, a, b, c] and layers[-1] is c and len(layers) == 4
    assert list(layers[1:3]) == [a, b] and isinstance(layers[1:3], nn.ModuleList)
    del layers[0]
    assert layers.pop(0) is a and list(layers) == [b, c]
    layers[1] = d
    holder_ = holder(None)()
    holder_.keep = layers
    assert [name for name, _ in holder_.named_modules()] == ["", "keep", "keep.0", "keep.1"]
    assert list(layers + nn.ModuleList([a])) == [b, d, a]
    with pytest.raises(IndexError, match="ModuleList: index 2 is out of range for 2 entries"):
        layers[2]
    with pytest.raises(TypeError, match="ModuleList.append: expected a Module, got ndarray"):
        layers.append(np.ones(2))
    with pytest.raises(TypeError, match="ModuleList.extend: expected an iterable of entries, got Tanh"):
        layers.extend(nn.Tanh())
    with pytest.raises(NotImplementedError, match="ModuleList is a container and has no forward"):
        layers(np.ones(2))


def test_module_dict_is_a_dict_with_keys_that_make_names():
    a, b = nn.Tanh(), nn.ReLU()
    heads = nn.ModuleDict([("x", a)])
    heads.update({"y": b})
    assert heads.keys() == ["x", "y"] and "x" in heads and heads["y"] is b and len(heads) == 2
    assert heads.pop("x") is a and heads.items() == [("y", b)]
    del heads["y"]
    assert len(heads) == 0 and list(heads.children()) == []
    with pytest.raises(KeyError, match=r"ModuleDict: no entry 'z'; the keys are \[\]"):
        heads["z"]
    with pytest.raises(KeyError, match="must be non-empty and hold no '.'"):
        heads["a.b"] = a
    with pytest.raises(TypeError, match="ModuleDict: keys must be strings, got 3"):
        heads[3] = a
    for clash in ("training", "keys", "forward"):
        with pytest.raises(KeyError, match=f"the key '{clash}' is the name of an attribute or method"):
            heads[clash] = a
    with pytest.raises(TypeError, match=r"ModuleDict.update: entry 0 is not a \(key, value\) pair"):
        heads.update(["x"])


def test_parameter_list_and_dict_hold_parameters():
    leaf = mg.tensor([1.0, 2.0], requires_grad=True)
    params = nn.ParameterList([leaf, np.array([1, 2])])
    assert params[0] is leaf and isinstance(params[1], nn.Parameter) and params[1].dtype == np.float32
    params.append(np.zeros(2))
    assert [name for name, _ in params.named_parameters()] == ["0", "1", "2"]
    table = nn.ParameterDict({"w": np.ones(2)})
    table["b"] = leaf
    assert table.keys() == ["w", "b"] and table["b"] is leaf and len(list(table.parameters())) == 2
    with pytest.raises(TypeError, match="ParameterList.append: got a Linear module, not a parameter; keep modules"):
        params.append(nn.Linear(2, 2))
    with pytest.raises(TypeError, match=r"ParameterDict.__setitem__: got a Tanh module"):
        table["t"] = nn.Tanh()
