"""nn.Model: recorded calls replayed backwards; weight sharing, several inputs and outputs, guards."""
import re

import numpy as np
import pytest

import convnp
from convnp import gradcheck, nn, optim
from convnp.functional import merge as M

from conftest import assert_matches, to_numpy


# -- the merge ops -------------------------------------------------------------------------------


@pytest.mark.parametrize("shapes", [[(2, 3, 4)] * 2, [(2, 3, 4), (3, 1)], [(2, 3, 1, 1), (2, 3, 4, 5), (5,)]])
def test_add_gradcheck_with_broadcasting(shapes):
    rng = np.random.default_rng(0)
    gradcheck.check_function(M.add_forward, M.add_backward, [rng.standard_normal(s) for s in shapes], rng=1)


@pytest.mark.parametrize("shapes", [[(2, 3, 4, 5), (2, 3, 1, 1)], [(3, 1), (2, 3, 4)]])
def test_mul_gradcheck_with_broadcasting(shapes):
    rng = np.random.default_rng(0)
    gradcheck.check_function(M.mul_forward, M.mul_backward, [rng.standard_normal(s) for s in shapes], rng=1)


def test_mul_by_a_number():
    x = np.random.default_rng(0).standard_normal((2, 3))
    y, cache = M.mul_forward(x, 0.5)
    dx, dnumber = M.mul_backward(np.ones_like(y), cache)
    np.testing.assert_array_equal(dx, np.full_like(x, 0.5))
    assert dnumber is None


@pytest.mark.parametrize("dim", [1, -1, 0])
def test_cat_gradcheck(dim):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))]
    gradcheck.check_function(lambda a, b: M.cat_forward([a, b], dim), M.cat_backward, xs, rng=1)


@pytest.mark.parametrize("sizes", [2, [1, 3, 1]])
def test_split_gradcheck(sizes):
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    pieces, cache = M.split_forward(x, sizes, dim=1)
    dys = [np.random.default_rng(i).standard_normal(p.shape) for i, p in enumerate(pieces)]
    dx = M.split_backward(dys, cache)
    num = gradcheck.numerical_gradient(lambda: sum(float(np.sum(p * d)) for p, d in
                                                   zip(M.split_forward(x, sizes, 1)[0], dys)), x)
    gradcheck.compare("split", dx, num, 1e-5, 1e-7)
    dx_unused = M.split_backward([dys[0]] + [None] * (len(dys) - 1), cache)   # unused pieces: zeros
    np.testing.assert_array_equal(dx_unused[:, pieces[0].shape[1]:], 0)


def test_merge_op_errors():
    a, b = np.zeros((2, 3)), np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"nn.add: shapes \(2, 3\), \(2, 4\) do not broadcast"):
        nn.add(a, b)
    with pytest.raises(ValueError, match=r"nn.cat: arrays must match except along dim 0: array 0 has shape \(2, 3\), array 1 has \(2, 4\)"):
        nn.cat([a, b], dim=0)
    with pytest.raises(ValueError, match=r"nn.split: sizes \[1, 1\] must be non-negative ints summing to 3"):
        nn.split(a, [1, 1], dim=1)
    with pytest.raises(ValueError, match=r"nn.reshape: cannot reshape an array of shape \(2, 3\) into \(4,\)"):
        nn.reshape(a, (4,))


# -- small models ------------------------------------------------------------------------------------


class TwoBranch(nn.Model):
    """An Inception-like block: two branches concatenated, plus a gated residual."""

    def __init__(self, c=2):
        super().__init__()
        self.a = nn.Conv2d(c, 3, 3, padding=1, rng=0)
        self.b = nn.Sequential(nn.Conv2d(c, 2, 1, rng=1), nn.Tanh())
        self.mix = nn.Conv2d(5, c, 1, rng=2)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        h = nn.cat([self.a(x), self.b(x)], dim=1)
        h = self.mix(h)
        return nn.add(x, nn.mul(h, self.gate(h)))


def test_model_gradcheck_branches_merges_and_residual():
    model = TwoBranch().to(np.float64)
    gradcheck.check_layer(model, np.random.default_rng(0).standard_normal((2, 2, 4, 5)), rng=1)


class Recurrent(nn.Model):
    """One conv applied three times (a recurrent refinement)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1, rng=0)
        self.act = nn.Tanh()

    def forward(self, x):
        for _ in range(3):
            x = self.act(self.conv(x))
        return x


def test_one_layer_called_three_times_gradcheck():
    model = Recurrent().to(np.float64)
    assert [n for n, _ in model.named_parameters()] == ["conv.weight", "conv.bias"]
    gradcheck.check_layer(model, np.random.default_rng(0).standard_normal((2, 2, 4, 4)), rng=1)


def test_sequential_with_the_same_layer_twice():
    conv = nn.Conv2d(2, 2, 3, padding=1, rng=0).to(np.float64)
    model = nn.Sequential(conv, nn.ReLU(), conv)
    assert len(model.parameters()) == 2                     # listed once: optimizers accept it
    optim.SGD(model.parameters(), lr=0.1)
    gradcheck.check_layer(model, np.random.default_rng(0).standard_normal((2, 2, 5, 5)), rng=1)


class Siamese(nn.Model):
    def __init__(self, width=4):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, width, 3, rng=0), nn.ReLU(), nn.Flatten())

    def forward(self, a, b):
        return self.encoder(a), self.encoder(b)


def test_two_inputs_two_outputs():
    model = Siamese().to(np.float64)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 1, 5, 5)), rng.standard_normal((2, 1, 5, 5))
    errors = gradcheck.check_layer(model, (a, b), rng=1)
    assert set(errors) == {"input 0", "input 1", "encoder.0.weight", "encoder.0.bias"}
    fa, fb = model(a, b)
    da, db = model.backward(np.ones_like(fa), None)          # one output unused: its input gets zeros
    assert np.any(da) and not np.any(db)


def test_input_grad_false_skips_dx_where_nothing_needs_it(monkeypatch):
    flags = []
    original = nn.Conv2d.backward

    def spy(self, dy, input_grad=True):
        flags.append(input_grad)
        return original(self, dy, input_grad)

    monkeypatch.setattr(nn.Conv2d, "backward", spy)
    model = TwoBranch()
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4)).astype(np.float32)
    y = model(x)
    assert model.backward(np.ones_like(y), input_grad=False) is None
    # the convs that read x itself need no dx; the mix conv's input comes from trained layers
    assert sorted(flags) == [False, False, True]


def test_frozen_layers_get_no_gradient_and_the_optimizer_skips_them():
    model = TwoBranch()
    model.a.requires_grad_(False)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    before = model.a.weight.data.copy()
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4)).astype(np.float32)
    for _ in range(2):
        opt.zero_grad()
        y = model(x)
        model.backward(np.ones_like(y))
        opt.step()
    assert not np.any(model.a.weight.grad) and not np.any(model.a.bias.grad)
    np.testing.assert_array_equal(model.a.weight.data, before)
    assert np.any(model.mix.weight.grad)
    assert "Non-trainable params: 57" in model.summary((2, 4, 4), file=open("/dev/null", "w"))


# -- guards ---------------------------------------------------------------------------------------------


class NumpyPlus(nn.Model):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1, rng=0)
        self.head = nn.Conv2d(1, 1, 1, rng=1)

    def forward(self, x):
        return self.head(self.conv(x) + x)       # NumPy's +: not recorded


def test_unrecorded_array_is_refused_naming_the_layer_and_the_fix():
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"NumpyPlus: Conv2d\(1, 1, kernel_size=1\) \(head\): input 0 \(shape"
                                         r" \(1, 1, 4, 4\)\) was not made by a recorded call.*use nn.add"):
        NumpyPlus()(x)


def test_unrecorded_output_is_refused():
    class Out(nn.Model):
        def forward(self, x):
            return x * 2

    with pytest.raises(ValueError, match=r"Out.forward: output 0 was not made by a recorded call"):
        Out()(np.zeros((1, 2)))


def test_backward_twice_after_one_forward_is_refused():
    model = TwoBranch()
    y = model(np.zeros((1, 2, 3, 3), np.float32))
    model.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match=r"TwoBranch.backward\(\) called before forward\(\), or twice after one forward"):
        model.backward(np.ones_like(y))


def test_wrong_number_or_shape_of_gradients():
    model = Siamese()
    a = np.zeros((2, 1, 5, 5), np.float32)
    fa, fb = model(a, a)
    with pytest.raises(ValueError, match=r"Siamese.backward: expected 2 gradient\(s\), one per output of forward, got 1"):
        model.backward(np.ones_like(fa))
    fa, fb = model(a, a)
    with pytest.raises(ValueError, match=r"Siamese.backward: gradient 1 has shape \(2, 3\), expected \(2, 36\)"):
        model.backward(np.ones_like(fa), np.ones((2, 3), np.float32))


def test_a_single_layer_checks_dy():
    conv = nn.Conv2d(1, 2, 3, rng=0)
    conv(np.zeros((2, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"Conv2d.backward: expected dy of shape \(2, 2, 3, 3\), the shape of the"
                                         r" forward's output, got \(2, 2, 3\)"):
        conv.backward(np.zeros((2, 2, 3), np.float32))


def test_plain_list_of_layers_and_missing_super_init():
    class Listy(nn.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [nn.ReLU(), nn.ReLU()]

    with pytest.raises(TypeError, match="a plain list of layers \\('blocks'\\) is not found by parameters.*nn.ModuleList"):
        Listy()

    class NoSuper(nn.Model):
        def __init__(self):
            self.conv = nn.ReLU()

    with pytest.raises(RuntimeError, match=r"NoSuper.__init__ must call super\(\).__init__\(\)"):
        NoSuper()


def test_custom_layer_without_input_grad_argument_works_in_a_model():
    class Double(nn.Layer):
        def forward(self, x):
            self._cache = True
            return x * 2

        def backward(self, dy):
            self.take_cache()
            return dy * 2

    model = nn.Sequential(nn.Linear(3, 2, rng=0), Double())
    y = model(np.ones((4, 3), np.float32))
    assert model.backward(np.ones_like(y), input_grad=False) is None


def test_no_grad_keeps_no_cache():
    model = TwoBranch()
    with convnp.no_grad():
        y = model(np.zeros((1, 2, 3, 3), np.float32))
    assert all(m._cache is None for m in model.modules())
    with pytest.raises(RuntimeError, match="called before forward"):
        model.backward(np.ones_like(y))


def test_no_grad_call_leaves_a_pending_call_alone():
    model = TwoBranch().to(np.float64)
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4))
    y = model(x)
    dx = model.backward(np.ones_like(y))
    model(x)
    with convnp.no_grad():
        model(np.zeros_like(x))          # e.g. a validation batch between forward and backward
        model.a(np.zeros_like(x))
    np.testing.assert_array_equal(model.backward(np.ones_like(y)), dx)


# -- structure -----------------------------------------------------------------------------------------


def test_modulelist_and_moduledict_names_and_shared_parameters():
    class Net(nn.Model):
        def __init__(self):
            super().__init__()
            shared = nn.Linear(2, 2, rng=0)
            self.blocks = nn.ModuleList([shared, nn.Linear(2, 2, rng=1)])
            self.heads = nn.ModuleDict({"cls": nn.Linear(2, 3, rng=2)})
            self.again = shared

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return self.heads["cls"](self.again(x))

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias",
                     "heads.cls.weight", "heads.cls.bias"]
    assert list(net.state_dict()) == names + ["again.weight", "again.bias"]   # as PyTorch's state_dict
    assert [n for n, _ in net.named_modules()] == ["", "blocks", "blocks.0", "blocks.1", "heads", "heads.cls"]
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 3
    gradcheck.check_layer(net.to(np.float64), np.random.default_rng(0).standard_normal((3, 2)), rng=1)


def test_summary_marks_shared_layers(capsys):
    text = Recurrent().summary((2, 4, 4))
    rows = [line for line in text.splitlines() if line.startswith("conv")]
    assert len(rows) == 3 and rows[0].split()[-1] == "38" and rows[1].split()[-1] == "shared"


def test_feature_maps_of_a_model_show_each_call():
    pytest.importorskip("matplotlib")
    from convnp.viz._model import _run_layers

    steps = _run_layers(TwoBranch(), np.zeros((1, 2, 4, 4), np.float32))
    assert [name for name, _, _ in steps] == ["a", "b", "cat", "mix", "gate", "mul", "add"]


# -- files -------------------------------------------------------------------------------------------------


class Configured(nn.Model):
    def __init__(self, width=3, *, act="relu", rng=None):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, rng=rng)
        self.act = nn.ReLU() if act == "relu" else nn.Tanh()

    def forward(self, x):
        return self.act(self.conv(x))


def test_save_and_load_a_model_of_your_own(tmp_path):
    model = Configured(5, act="tanh", rng=np.random.default_rng(0))
    assert model.config() == {"width": 5, "act": "tanh"}
    path = tmp_path / "m.npz"
    convnp.save(path, model)
    x = np.random.default_rng(1).standard_normal((2, 1, 6, 6)).astype(np.float32)
    loaded = convnp.load(path, classes=[Configured])
    assert isinstance(loaded.act, nn.Tanh)
    np.testing.assert_array_equal(loaded(x), model(x))
    with pytest.raises(convnp.io.ModelFileError, match=re.escape("unknown layer class 'Configured' at the top level")
                       + ".*convnp.load\\(path, classes=\\[Configured\\]\\)"):
        convnp.load(path)


def test_a_model_whose_arguments_cannot_be_stored_is_refused(tmp_path):
    class Holder(nn.Model):
        def __init__(self, table):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            return self.lin(x)

    with pytest.raises(TypeError, match="cannot store config value 'table'"):
        convnp.save(tmp_path / "h.npz", Holder(np.zeros(3)))
    assert not (tmp_path / "h.npz").exists()


def test_a_layer_given_to_a_model_is_stored_with_it(tmp_path):
    class Wrap(nn.Model):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x)

    model = Wrap(nn.Sequential(nn.Linear(2, 3, rng=0), nn.ReLU()))
    convnp.save(tmp_path / "w.npz", model)
    loaded = convnp.load(tmp_path / "w.npz", classes=[Wrap])
    x = np.ones((1, 2), np.float32)
    np.testing.assert_array_equal(loaded(x), model(x))


# -- the hard cases against PyTorch ----------------------------------------------------------------------


def _torch_twin(torch):
    tnn = torch.nn

    class TorchTwoBranch(tnn.Module):
        def __init__(self):
            super().__init__()
            self.a = tnn.Conv2d(2, 3, 3, padding=1)
            self.b = tnn.Sequential(tnn.Conv2d(2, 2, 1), tnn.Tanh())
            self.mix = tnn.Conv2d(5, 2, 1)
            self.gate = tnn.Sigmoid()

        def forward(self, x):
            h = self.mix(torch.cat([self.a(x), self.b(x)], dim=1))
            return x + h * self.gate(h)

    return TorchTwoBranch()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_branches_match_torch(torch, dtype):
    from conftest import torch_parity

    x = np.random.default_rng(0).standard_normal((3, 2, 5, 4)).astype(dtype)
    torch_parity(TwoBranch().to(dtype), _torch_twin(torch), x, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_siamese_and_recurrent_match_torch(torch, dtype):
    from conftest import torch_parity

    tnn = torch.nn

    class TSiamese(tnn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = tnn.Sequential(tnn.Conv2d(1, 4, 3), tnn.ReLU(), tnn.Flatten())

        def forward(self, a, b):
            return self.encoder(a), self.encoder(b)

    class TRecurrent(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.act = tnn.Conv2d(2, 2, 3, padding=1), tnn.Tanh()

        def forward(self, x):
            for _ in range(3):
                x = self.act(self.conv(x))
            return x

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 1, 6, 6)).astype(dtype), rng.standard_normal((3, 1, 6, 6)).astype(dtype)
    torch_parity(Siamese().to(dtype), TSiamese(), a, b, dtype=dtype)
    torch_parity(Recurrent().to(dtype), TRecurrent(), rng.standard_normal((2, 2, 5, 5)).astype(dtype), dtype=dtype)


class Generator(nn.Model):
    def __init__(self, nz=4):
        super().__init__()
        self.fc = nn.Linear(nz, 2 * 6 * 6, bias=False, rng=0)   # BatchNorm follows
        self.bn = nn.BatchNorm1d(2 * 6 * 6)
        self.conv = nn.Conv2d(2, 1, 3, padding=1, rng=1)
        self.out = nn.Tanh()

    def forward(self, z):
        h = nn.reshape(nn.ReLU()(self.bn(self.fc(z))), (-1, 2, 6, 6))
        return self.out(self.conv(h))


class Discriminator(nn.Model):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 3, 3, stride=2, padding=1, rng=2), nn.BatchNorm2d(3),
                                  nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(27, 1, rng=3))

    def forward(self, x):
        return self.body(x)


class RealAndFake(nn.Model):
    """The discriminator applied to real images and to fake ones before one backward."""

    def __init__(self, d):
        super().__init__()
        self.d = d

    def forward(self, real, fake):
        return self.d(real), self.d(fake)


def _torch_gan(torch):
    tnn = torch.nn

    class G(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.bn, self.conv = tnn.Linear(4, 72, bias=False), tnn.BatchNorm1d(72), tnn.Conv2d(2, 1, 3, padding=1)

        def forward(self, z):
            return torch.tanh(self.conv(torch.relu(self.bn(self.fc(z))).reshape(-1, 2, 6, 6)))

    class D(tnn.Module):
        def __init__(self):
            super().__init__()
            self.body = tnn.Sequential(tnn.Conv2d(1, 3, 3, stride=2, padding=1), tnn.BatchNorm2d(3),
                                       tnn.LeakyReLU(0.2), tnn.Flatten(), tnn.Linear(27, 1))

        def forward(self, x):
            return self.body(x)

    return G(), D()


def _mse_grad(y, target):
    return 2 * (y - target) / y.size


def test_gan_loop_matches_torch_for_two_steps(torch):
    """D on real and fake before one backward (least-squares GAN losses), then G through D; SGD both."""
    dtype = np.float64
    g, d = Generator().to(dtype), Discriminator().to(dtype)
    tg, td = _torch_gan(torch)
    for ours, theirs in ((g, tg), (d, td)):
        theirs.double().load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    both = RealAndFake(d)
    opt_g, opt_d = optim.SGD(g.parameters(), lr=0.1, momentum=0.5), optim.SGD(d.parameters(), lr=0.1, momentum=0.5)
    topt_g = torch.optim.SGD(tg.parameters(), lr=0.1, momentum=0.5)
    topt_d = torch.optim.SGD(td.parameters(), lr=0.1, momentum=0.5)
    rng = np.random.default_rng(0)
    for step in range(2):
        real, z = rng.standard_normal((4, 1, 6, 6)), rng.standard_normal((4, 4))
        # discriminator step: G's output as a fixed input (detached)
        opt_d.zero_grad()
        with convnp.no_grad():
            fake = g(z)
        out_real, out_fake = both(real, fake)
        both.backward(_mse_grad(out_real, 1.0), _mse_grad(out_fake, 0.0), input_grad=False)
        opt_d.step()
        topt_d.zero_grad()
        t_real, t_fake = td(torch.tensor(real)), td(tg(torch.tensor(z)).detach())
        (((t_real - 1) ** 2).mean() + (t_fake ** 2).mean()).backward()
        topt_d.step()
        assert_matches(out_real, to_numpy(t_real), dtype, f"step {step} D(real)")
        # generator step: gradient through D into G (D's own gradients are dropped)
        opt_g.zero_grad()
        fake = g(z)
        out = d(fake)
        g.backward(d.backward(_mse_grad(out, 1.0)), input_grad=False)
        topt_g.zero_grad()
        ((td(tg(torch.tensor(z))) - 1) ** 2).mean().backward()
        for name, p in g.named_parameters():
            assert_matches(p.grad, to_numpy(dict(tg.named_parameters())[name].grad), dtype, f"step {step} G {name}")
        opt_g.step()
        topt_g.step()
    for ours, theirs in ((g, tg), (d, td)):
        for name, value in ours.state_dict().items():
            assert_matches(value, to_numpy(theirs.state_dict()[name]), dtype, name)


def test_receptive_field_follows_recorded_calls():
    table = convnp.receptive_field(Recurrent(), (2, 8, 8))
    assert [r["receptive_field"] for r in table if r["type"] == "Conv2d"] == [(3, 3), (5, 5), (7, 7)]
    rows = {r["name"]: r for r in convnp.receptive_field(TwoBranch(), (2, 8, 8))}
    assert rows["cat"]["receptive_field"] == (3, 3) and rows["cat"]["note"] == "max of its inputs"


def test_fit_trains_a_model_of_your_own():
    from convnp import train

    class Net(nn.Model):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1, rng=0)
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 8 * 8, 2, rng=1))

        def forward(self, x):
            h = self.conv(x)
            return self.head(nn.add(h, nn.ReLU()(h)))

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].mean(axis=(1, 2)) > x[:, 0, 4:].mean(axis=(1, 2))).astype(np.int64)
    model = Net()
    history = train.fit(model, (x, y), epochs=8, optimizer=optim.Adam(model.parameters(), lr=1e-2),
                        loss=nn.CrossEntropyLoss(), batch_size=16, seed=0, progress=False)
    assert history["accuracy"][-1] > 0.9
    assert train.evaluate(model, (x, y))["accuracy"] > 0.9
