from __future__ import annotations

import pytest
import torch

from workers.engine.classifiers import (
    EvaluatorCNN,
    book_classifier_cnn,
    book_classifier_mlp_layernorm,
    book_classifier_mlp_sigmoid,
)
from workers.engine.families import FAMILIES, get_family
from workers.engine.history import LossHistory
from workers.engine.networks import ScoreSigmoid
from workers.engine.runtime import Runtime
from workers.engine.steps import batched_step, book_step
from workers.engine.trainer import build_parts, make_plan
from workers.spec import JobSpec


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("family", "d_params", "g_params"),
    [
        ("pattern-1010", 4 * 3 + 3 + 3 + 1, 1 * 3 + 3 + 3 * 4 + 4),
        ("mnist-gan-v1", 784 * 200 + 200 + 200 + 1, 200 + 200 + 200 * 784 + 784),
        ("mnist-gan", 157_601, 178_184),  # the book's counts
        ("mnist-cgan", 159_601, 180_184),
        ("celeba-gan", 11_641_601, 35_070_912),
        ("celeba-dcgan", 4_294_448, 4_330_816),
        ("celeba-dcgan-gelu", 4_294_448, 4_330_816),
    ],
)
def test_parameter_counts_equal_the_book(family: str, d_params: int, g_params: int) -> None:
    spec = get_family(family)
    assert count(spec.build_discriminator()) == d_params
    assert count(spec.build_generator()) == g_params


@pytest.mark.parametrize("family", list(FAMILIES))
def test_generator_tells_its_shape_and_works_in_eval(family: str) -> None:
    spec = get_family(family)
    generator = spec.build_generator().eval()
    assert generator.z_dim == spec.z_dim
    assert generator.num_classes == spec.num_classes
    assert list(generator.output_shape) == spec.sample_shape
    z = torch.randn(5, spec.z_dim)
    labels = torch.arange(5) if spec.num_classes else None
    with torch.no_grad():
        first, second = generator(z, labels), generator(z, labels)
    assert first.shape == (5, *spec.sample_shape)
    assert torch.equal(first, second)  # eval() is deterministic: no train() override
    assert float(first.min()) >= 0 and float(first.max()) <= 1
    with torch.no_grad():
        scores = spec.build_discriminator().eval()(first, labels)
    assert scores.shape == (5, 1)


def test_conditional_networks_demand_labels_and_unconditional_refuse_them() -> None:
    cgan, gan = (
        get_family("mnist-cgan").build_generator(),
        get_family("mnist-gan").build_generator(),
    )
    with pytest.raises(ValueError, match="conditional"):
        cgan(torch.randn(2, 100))
    with pytest.raises(ValueError, match="unconditional"):
        gan(torch.randn(2, 100), torch.tensor([1, 2]))


def test_label_changes_the_conditional_output() -> None:
    generator = get_family("mnist-cgan").build_generator().eval()
    z = torch.randn(1, 100).repeat(2, 1)
    images = generator(z, torch.tensor([3, 7]))
    assert not torch.allclose(images[0], images[1])


@pytest.mark.parametrize(
    ("build", "params"),
    [
        (book_classifier_mlp_sigmoid, 784 * 200 + 200 + 200 * 10 + 10),
        (book_classifier_mlp_layernorm, 784 * 200 + 200 + 400 + 200 * 10 + 10),
        (book_classifier_cnn, 10 * 25 + 10 + 20 + 10 * 10 * 9 + 10 + 20 + 250 * 10 + 10),
    ],
)
def test_book_classifiers(build, params: int) -> None:  # type: ignore[no-untyped-def]
    model = build().eval()
    assert count(model) == params
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_the_projection_discriminator_scores_each_image_with_its_label() -> None:
    family = get_family("mnist-cgan")
    projection = family.build_discriminator("projection").eval()
    images, labels = torch.rand(5, 1, 28, 28), torch.tensor([0, 1, 2, 3, 9])
    scores = projection(images, labels)
    assert scores.shape == (5, 1) and bool(((scores > 0) & (scores < 1)).all())
    with torch.no_grad():
        projection.embed.weight[3] += 1.0  # the label changes the score through its embedding
    changed = projection(images, labels)
    assert torch.equal(changed[[0, 1, 2, 4]], scores[[0, 1, 2, 4]])
    assert not torch.equal(changed[3], scores[3])
    with pytest.raises(ValueError, match="pass labels"):
        projection(images)
    with pytest.raises(ValueError, match="conditional models"):
        get_family("mnist-gan").build_discriminator("projection")


def test_evaluator_features_and_logits() -> None:
    model = EvaluatorCNN().eval()
    images = torch.rand(4, 1, 28, 28)
    assert model.embed(images).shape == (4, EvaluatorCNN.feature_dim)
    assert model(images).shape == (4, 10)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("mode", ["book", "batched"])
def test_one_discriminator_and_one_generator_step_are_finite(family: str, mode: str) -> None:
    spec = JobSpec(model=family, training={"mode": mode, "precision": "fp32", "device": "cpu"})
    family_spec = get_family(family)
    batch = 1 if mode == "book" else 4
    plan = make_plan(spec, 64)
    parts = build_parts(plan)
    assert parts.runtime == Runtime(torch.device("cpu"), None)
    before = {name: p.clone() for name, p in parts.generator.named_parameters()}
    history = LossHistory(record_every=1)
    real = torch.rand(batch, *family_spec.sample_shape)
    labels = torch.randint(0, 10, (batch,)) if family_spec.num_classes else None
    step = book_step if mode == "book" else batched_step
    stats = step(parts, history, real, labels)
    history.flush()
    assert history.g_calls == 1 and history.d_calls == (2 if mode == "book" else 1)
    assert all(torch.isfinite(torch.tensor(v)) for v in history.d_loss + history.g_loss)
    assert 0 <= float(stats.d_real) <= 1 and 0 <= float(stats.d_fake) <= 1
    changed = any(not torch.equal(before[n], p) for n, p in parts.generator.named_parameters())
    assert changed, "the generator step must update G"
    assert all(p.requires_grad for p in parts.discriminator.parameters())


def test_the_gelu_variant_swaps_every_leaky_relu() -> None:
    for network in (
        get_family("celeba-dcgan-gelu").build_generator(),
        get_family("celeba-dcgan-gelu").build_discriminator(),
    ):
        kinds = {type(m).__name__ for m in network.modules()}
        assert "GELU" in kinds and "LeakyReLU" not in kinds
    plain = get_family("celeba-dcgan").build_generator()
    assert "GELU" not in {type(m).__name__ for m in plain.modules()}


def test_conv_shapes_follow_the_book() -> None:
    generator = get_family("celeba-dcgan").build_generator().eval()
    discriminator = get_family("celeba-dcgan").build_discriminator().eval()
    with torch.no_grad():
        sizes = []
        x = generator.project(torch.randn(1, 100)).view(1, 3, 11, 11)
        for layer in generator.model:
            x = layer(x)
            if isinstance(layer, torch.nn.ConvTranspose2d):
                sizes.append(x.shape[-1])
        assert sizes == [28, 62, 128]
        y, sizes = torch.rand(1, 3, 128, 128), []
        for layer in discriminator.model:
            y = layer(y)
            if isinstance(layer, torch.nn.Conv2d):
                sizes.append(y.shape[-1])
        assert sizes == [61, 27, 10]


def test_the_discriminator_scores_in_fp32_under_autocast() -> None:
    """bf16 would round a confident score to exactly 1.0, where BCE's gradient is lost."""
    logit = torch.tensor([[7.0]], dtype=torch.bfloat16)
    assert float(torch.nn.Sigmoid()(logit)) == 1.0
    score = ScoreSigmoid()(logit)
    assert score.dtype == torch.float32 and float(score) < 1.0
    for name in ("mnist-gan", "celeba-dcgan"):
        d = get_family(name).build_discriminator()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert d(torch.rand(2, *get_family(name).sample_shape)).dtype == torch.float32
