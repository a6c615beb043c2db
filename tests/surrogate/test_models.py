"""Networks: shapes for every side and norm, PatchGAN receptive field, dropout only in training,
two scales, self-describing rebuild."""

from __future__ import annotations

import json

import pytest
import torch

from lacbed_bridge.errors import ConfigError
from lacbed_bridge.surrogate.models import (
    MultiScaleDiscriminator,
    PatchDiscriminator,
    TwoScaleGenerator,
    UNetGenerator,
    build_networks,
    model_from_description,
)


@pytest.mark.parametrize("side", [32, 64, 128])
@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_generator_shape_and_range(side, norm):
    torch.manual_seed(0)
    gen = UNetGenerator(side, ngf=4, norm=norm)
    x = torch.rand(2, 1, side, side)
    y = gen(x).detach()
    assert y.shape == (2, 1, side, side)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    # depth = log2(side): the innermost feature map is 1 × 1
    convs = [m for m in gen.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == side.bit_length() - 1


def test_bad_side_is_a_config_error():
    for side in (16, 48, 100):
        with pytest.raises(ConfigError, match="power of two"):
            UNetGenerator(side, ngf=4)


def test_dropout_only_while_training():
    torch.manual_seed(0)
    gen = UNetGenerator(64, ngf=4, dropout=True)  # depth 6: one ngf·8 block with dropout
    x = torch.rand(2, 1, 64, 64)
    gen.train()
    assert not torch.equal(gen(x), gen(x))
    gen.eval()
    assert torch.equal(gen(x), gen(x))
    assert not any(isinstance(m, torch.nn.Dropout) for m in UNetGenerator(64, ngf=4, dropout=False).modules())


@pytest.mark.parametrize("side,patches", [(64, 6), (128, 14), (256, 30)])
def test_patch_discriminator_output(side, patches):
    disc = PatchDiscriminator(ndf=4)
    out = disc(torch.rand(1, 1, side, side), torch.rand(1, 1, side, side))
    assert out.shape == (1, 1, patches, patches)


def test_patch_discriminator_sees_70_by_70_pixels():
    torch.manual_seed(0)
    disc = PatchDiscriminator(ndf=4).eval()
    x = torch.rand(1, 1, 128, 128, requires_grad=True)
    out = disc(x, torch.rand(1, 1, 128, 128))
    out[0, 0, 7, 7].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(dim=0)).flatten()
    assert int(rows[-1] - rows[0]) + 1 == 70 and int(cols[-1] - cols[0]) + 1 == 70


def test_two_scales():
    gen = TwoScaleGenerator(64, ngf=4)
    full, coarse = gen.forward_scales(torch.rand(3, 1, 64, 64))
    assert full.shape == (3, 1, 64, 64) and coarse.shape == (3, 1, 32, 32)
    outs = MultiScaleDiscriminator(2, ndf=4)(torch.rand(3, 1, 64, 64), full)
    assert [o.shape[-1] for o in outs] == [6, 2]
    with pytest.raises(ConfigError, match="≥ 64"):
        TwoScaleGenerator(32, ngf=4)


def test_rebuild_from_description_alone():
    torch.manual_seed(1)
    gen, disc = build_networks(model="pix2pix", side=32, ngf=4, ndf=4, norm="instance", dropout=False, scales=1)
    description = json.loads(json.dumps(gen.describe()))
    assert description["_version"] == 1 and description["kwargs"]["norm"] == "instance"
    clone = model_from_description(description)
    clone.load_state_dict(gen.state_dict())
    x = torch.rand(2, 1, 32, 32)
    assert torch.equal(clone.eval()(x), gen.eval()(x))
    assert build_networks(model="unet", side=32, ngf=4, ndf=4, norm="batch", dropout=True, scales=1)[1] is None
    with pytest.raises(ConfigError, match="network version"):
        model_from_description({**description, "_version": 99})
