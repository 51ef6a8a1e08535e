"""Network shapes at odd sizes and state-dict round trips through safetensors."""
import pytest
import torch
from safetensors.torch import load_file, save_file

from engine.nets import Discriminator, FillUNet, SRGenerator, UNet, build
from engine.nets.unet import pull_push_fill


@pytest.mark.parametrize("h,w", [(16, 16), (32, 48), (64, 16)])
@pytest.mark.parametrize("depth", [2, 3])
def test_unet_shapes(h, w, depth):
    net = UNet(in_channels=4, out_channels=3, width=4, depth=depth).eval()
    assert net.multiple == 2 ** depth
    h, w = h // net.multiple * net.multiple or net.multiple, w // net.multiple * net.multiple or net.multiple
    with torch.no_grad():
        y = net(torch.rand(2, 4, h, w))
    assert y.shape == (2, 3, h, w)


def test_unet_residual_adds_input():
    net = UNet(1, 1, width=4, depth=2, residual=True).eval()
    torch.nn.init.zeros_(net.head.weight)
    torch.nn.init.zeros_(net.head.bias)
    x = torch.rand(1, 1, 8, 12)
    with torch.no_grad():
        assert torch.allclose(net(x), x)


@pytest.mark.parametrize("h,w", [(37, 53), (16, 16), (5, 64)])
def test_pull_push_fill_keeps_known_pixels_and_fills_smoothly(h, w):
    yy, xx = torch.meshgrid(torch.arange(h) / h, torch.arange(w) / w, indexing="ij")
    img = torch.stack([yy, xx, 0.5 * yy + 0.25 * xx])[None]          # a smooth ramp
    hole = torch.zeros(1, 1, h, w)
    hole[..., h // 4:h // 2 + 1, w // 5:w // 2 + 1] = 1
    damaged = torch.where(hole > 0, torch.ones_like(img), img)
    fill = pull_push_fill(damaged, hole)
    assert torch.equal(fill[(hole == 0).expand_as(img)], img[(hole == 0).expand_as(img)])
    assert (fill - img).abs().max() < 0.3                             # nothing of the white hole is left
    assert torch.equal(pull_push_fill(img, torch.zeros_like(hole)), img)


def test_fill_unet_starts_from_the_fill():
    net = FillUNet(width=4, depth=2).eval()
    torch.nn.init.zeros_(net.unet.head.weight)
    torch.nn.init.zeros_(net.unet.head.bias)
    x = torch.rand(1, 4, 16, 20)
    x[:, 3] = (x[:, 3] > 0.8).float()
    with torch.no_grad():
        assert torch.allclose(net(x), pull_push_fill(x[:, :3], x[:, 3:]))


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("h,w", [(1, 1), (7, 13), (5, 1)])
def test_generator_odd_sizes(scale, h, w):
    net = SRGenerator(scale=scale, width=8, blocks=2).eval()
    with torch.no_grad():
        y = net(torch.rand(1, 3, h, w))
    assert y.shape == (1, 3, h * scale, w * scale)


def test_generator_rejects_other_scales():
    with pytest.raises(ValueError):
        SRGenerator(scale=3)


def test_discriminator_logit_and_features():
    d = Discriminator(width=8, stages=3)
    x = torch.rand(2, 3, 37, 29)
    assert d(x).shape == (2, 1)
    assert len(d.features(x)) == 3


@pytest.mark.parametrize("arch,params,shape", [
    ("unet", {"in_channels": 3, "out_channels": 1, "width": 4, "depth": 2}, (1, 3, 20, 12)),
    ("fillunet", {"width": 4, "depth": 2}, (1, 4, 20, 12)),
    ("srgenerator", {"scale": 2, "width": 8, "blocks": 2}, (1, 3, 9, 7)),
    ("discriminator", {"width": 8, "stages": 2}, (1, 3, 16, 16)),
])
def test_safetensors_round_trip(tmp_path, arch, params, shape):
    torch.manual_seed(0)
    a = build(arch, **params).eval()
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in a.state_dict().items()}, str(path))
    b = build(arch, **params).eval()
    b.load_state_dict(load_file(str(path)))
    x = torch.rand(*shape)
    if arch in ("unet", "fillunet"):
        x = x[..., :16, :12]
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_build_unknown_arch():
    with pytest.raises(ValueError, match="unknown architecture"):
        build("nope")
