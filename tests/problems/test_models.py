"""Models: output shapes for every dataset shape, seeded initialization, and the digits quality bar."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from inertia.problems import MODELS, TRAINING_DEFAULTS, count_parameters, load_digits, make_model

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape", SHAPES)
def test_output_shapes(name: str, shape: tuple[int, ...]) -> None:
    model = make_model(name, shape, 10, seed=0)
    assert model(torch.zeros(4, *shape)).shape == (4, 10)


def test_vector_inputs_and_cnn_feature_sizes() -> None:
    assert make_model("mlp", (20,), 3)(torch.zeros(2, 20)).shape == (2, 3)
    assert make_model("softmax", (20,), 3)(torch.zeros(2, 20)).shape == (2, 3)
    assert count_parameters(make_model("softmax", (1, 8, 8), 10)) == 64 * 10 + 10
    assert count_parameters(make_model("mlp", (1, 8, 8), 10, hidden=32)) == (64 * 32 + 32) + (32 * 32 + 32) + (32 * 10 + 10)
    # CNN: two 3x3 conv blocks (16, 32 channels), pooling while the side is >= 8, then 64 hidden units.
    for shape, side in (((1, 8, 8), 4), ((1, 28, 28), 7), ((3, 32, 32), 8)):
        conv1, conv2 = shape[0] * 16 * 9 + 16, 16 * 32 * 9 + 32
        dense = (32 * side * side * 64 + 64) + (64 * 10 + 10)
        assert count_parameters(make_model("cnn", shape, 10)) == conv1 + conv2 + dense, shape


def test_initialization_is_seeded_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b, c = (make_model("mlp", (1, 8, 8), 10, seed=s) for s in (5, 5, 6))
    assert torch.equal(torch.random.get_rng_state(), before)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'resnet'; valid models: softmax, mlp, cnn"):
        make_model("resnet", (1, 8, 8), 10)
    with pytest.raises(ValueError, match=r"model 'cnn' needs image inputs .* got input_shape \(20,\)"):
        make_model("cnn", (20,), 10)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2, got 1"):
        make_model("mlp", (4,), 1)
    with pytest.raises(ValueError, match="input_shape must be a non-empty tuple"):
        make_model("mlp", (), 10)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_is_seeded(name: str) -> None:
    a, b, c = (make_model(name, (1, 8, 8), 10, seed=s) for s in (3, 3, 4))
    assert all(torch.equal(pa, pb) for pa, pb in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"hidden": 0}, "hidden must be an integer >= 1, got 0"),
    ({"hidden": -3}, "hidden must be an integer >= 1, got -3"),
    ({"hidden": 2.5}, "hidden must be an integer >= 1, got 2.5"),
    ({"seed": 1.5}, "seed must be an integer, got 1.5"),  # would silently equal seed 1
    ({"seed": True}, "seed must be an integer, got True"),
    ({"input_shape": 64}, "input_shape must be a non-empty tuple of positive integer sizes, got 64"),
    ({"input_shape": (2.5,)}, r"input_shape must be a non-empty tuple of positive integer sizes, got \(2.5,\)"),
])
def test_bad_sizes_and_seeds_are_named(kwargs: dict, message: str) -> None:
    arguments = {"name": "mlp", "input_shape": (64,), "num_classes": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        make_model(**arguments)


def test_digits_mlp_with_adam_defaults_reaches_97_percent() -> None:
    """The quality bar of ``inertia train --data digits --model mlp --optimizer adam``.

    One torch thread: on a busy 2-core machine two threads make these tiny matmuls ~10x slower.
    """
    data = load_digits(seed=0)
    model = make_model("mlp", data.input_shape, data.num_classes, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=TRAINING_DEFAULTS["lr"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for epoch in range(int(TRAINING_DEFAULTS["epochs"])):
            for xb, yb in data.batches(int(TRAINING_DEFAULTS["batch_size"]), epoch=epoch, seed=0):
                opt.zero_grad()
                F.cross_entropy(model(xb), yb).backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        accuracy = float((model(data.X_test).argmax(1) == data.y_test).float().mean())
    assert accuracy >= 0.97
