"""Tile planning covers every pixel once; tiled output equals whole-image output;
blended tiles' weights sum to one and leave no seam; odd sizes work; out-of-memory
halves the tile and finally falls back to the CPU."""
import numpy as np
import pytest
import torch
from torch import nn

from engine.errors import Cancelled, RestoraError
from engine.jobs import run_job
from engine.nets import SRGenerator, UNet
from engine.tiling import MIN_TILE, plan_tiles, run_tiled
from engine.types import CancelToken

CPU = torch.device("cpu")


@pytest.mark.parametrize("h,w,tile,overlap,m", [(1, 1, 64, 8, 1), (1, 4096, 128, 16, 4), (300, 200, 96, 16, 8),
                                                 (64, 64, 64, 16, 16), (513, 17, 128, 24, 8)])
def test_plan_covers_each_pixel_once(h, w, tile, overlap, m):
    tiles = plan_tiles(h, w, tile, overlap, m)
    hits = np.zeros((h, w), int)
    for t in tiles:
        hits[t.cy0:t.cy1, t.cx0:t.cx1] += 1
        assert 0 <= t.y0 <= t.cy0 < t.cy1 <= t.y1 <= h and 0 <= t.x0 <= t.cx0 < t.cx1 <= t.x1 <= w
        assert t.y0 % m == 0 and t.x0 % m == 0          # same pooling grid as the whole image
    assert (hits == 1).all()


def test_a_picture_that_fits_is_one_tile():
    assert [(t.y0, t.y1, t.x0, t.x1) for t in plan_tiles(100, 128, 128, 32, 8)] == [(0, 100, 0, 128)]
    assert len(plan_tiles(100, 129, 128, 32, 8)) > 1


def _small_unet():
    # depth 2, 2 double-convs per level: receptive radius well under 32 px
    torch.manual_seed(0)
    net = UNet(3, 3, width=4, depth=2, residual=True)
    for m in net.modules():            # non-trivial BatchNorm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _run(net, img, **kw):
    return run_job(run_tiled(net, img, device=CPU, use_autocast=False, **kw))


def test_unet_tiled_equals_untiled():
    net = _small_unet()
    img = np.random.default_rng(0).random((150, 203, 3), dtype=np.float32)
    whole = _run(net, img, multiple=net.multiple, tile=1024, overlap=32)
    tiled = _run(net, img, multiple=net.multiple, tile=96, overlap=32)
    assert np.abs(whole - tiled).max() <= 1 / 255


def test_generator_tiled_equals_untiled_x4():
    torch.manual_seed(0)
    net = SRGenerator(scale=4, width=8, blocks=2).eval()
    img = np.random.default_rng(1).random((70, 90, 3), dtype=np.float32)
    whole = _run(net, img, scale=4, tile=512, overlap=16)
    tiled = _run(net, img, scale=4, tile=64, overlap=16)
    assert whole.shape == (280, 360, 3)
    assert np.abs(whole - tiled).max() <= 1 / 255


@pytest.mark.parametrize("h,w", [(1, 1), (1, 300), (300, 1), (5, 3)])
def test_any_size_works(h, w):
    net = _small_unet()
    img = np.random.default_rng(2).random((h, w, 3), dtype=np.float32)
    out = _run(net, img, multiple=net.multiple, tile=64, overlap=8)
    assert out.shape == (h, w, 3) and np.isfinite(out).all()


@pytest.mark.parametrize("h,w,tile,overlap,m,scale", [(300, 200, 96, 16, 8, 1), (513, 17, 128, 24, 8, 1),
                                                       (70, 90, 64, 16, 1, 2), (200, 200, 64, 40, 4, 1)])
def test_blended_tiles_weigh_one_in_all(h, w, tile, overlap, m, scale):
    """The blending weights of the tiles over a pixel sum to 1: a network that passes its
    input on (enlarged `scale` times) gives back the input."""
    net = nn.Upsample(scale_factor=scale) if scale > 1 else nn.Identity()
    img = np.random.default_rng(4).random((h, w, 3), dtype=np.float32)
    assert len(plan_tiles(h, w, tile, overlap, m)) > 1
    out = _run(net, img, multiple=m, scale=scale, tile=tile, overlap=overlap, blend=True)
    assert np.abs(out - img.repeat(scale, 0).repeat(scale, 1)).max() < 1e-5


class _TileMean(nn.Module):
    """Every pixel of a tile becomes the tile's mean: as a hole filled from what each tile sees."""

    def forward(self, x):
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x)


@pytest.mark.parametrize("blend,jump", [(False, 0.3), (True, 0.02)])
def test_blended_tiles_fade_into_each_other(blend, jump):
    img = np.zeros((64, 400, 1), np.float32)
    img[:, 200:] = 1                              # tiles over the left, middle and right see different means
    out = _run(_TileMean(), img, tile=128, overlap=32, blend=blend)[0, :, 0]
    steps = np.abs(np.diff(out))
    assert (steps.max() > jump) != blend          # cut at the cores' edges: a step of 0.3 or more
    assert out[0] == 0 and out[-1] == 1


def test_no_tile_runs_when_the_output_would_not_fit_in_memory(monkeypatch):
    import engine.device
    monkeypatch.setattr(engine.device.psutil, "virtual_memory", lambda: type("Memory", (), {"available": 10**6}))
    ran = []
    img = np.zeros((300, 400, 3), np.float32)          # a 1200x1600 float32 output: 23 MB
    with pytest.raises(RestoraError, match="the 1600x1200 result needs .* GB of memory"):
        run_job(run_tiled(lambda x: ran.append(x) or x, img, device=CPU, scale=4))
    assert not ran
    assert run_job(run_tiled(nn.Identity(), img[:100, :100], device=CPU)).shape == (100, 100, 3)   # 120 kB fits


def test_uint8_output_and_progress():
    net = _small_unet()
    img = np.random.default_rng(3).random((100, 100, 3), dtype=np.float32)
    reports = []
    out = run_job(run_tiled(net, img, device=CPU, multiple=4, tile=64, overlap=8, out_dtype=np.uint8,
                            use_autocast=False), reports.append)
    assert out.dtype == np.uint8
    assert reports[-1].done == reports[-1].total == len(reports)


class _OomAbove(nn.Module):
    """Identity that raises out-of-memory for tiles wider than `limit` px until it is moved."""

    def __init__(self, limit):
        super().__init__()
        self.limit, self.failing, self.multiple = limit, True, 1
        self.moved_to = []

    def to(self, device):
        self.moved_to.append(str(device))
        self.failing = False
        return self

    def forward(self, x):
        if self.failing and x.shape[-1] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return x


def test_oom_halves_tile_and_finishes():
    net = _OomAbove(limit=130)
    img = np.random.default_rng(4).random((300, 300, 3), dtype=np.float32)
    reports = []
    out = run_job(run_tiled(net, img, device=CPU, tile=512, overlap=8, use_autocast=False), reports.append)
    assert any("retrying with 128 px tiles" in r.stage for r in reports)
    assert net.moved_to == []
    assert np.allclose(out, img)


def test_oom_at_floor_on_cpu_raises():
    net = _OomAbove(limit=1)
    img = np.zeros((MIN_TILE * 2, MIN_TILE * 2, 3), np.float32)
    with pytest.raises(torch.OutOfMemoryError):
        _run(net, img, tile=MIN_TILE * 2, overlap=0)


def test_oom_at_floor_on_gpu_falls_back_to_cpu(monkeypatch):
    import engine.tiling as tiling

    real = tiling._run_tile
    # run the "GPU" tiles on the CPU: only the device label matters to the fallback logic
    monkeypatch.setattr(tiling, "_run_tile", lambda n, patch, device, *a: real(n, patch, CPU, *a))
    monkeypatch.setattr(tiling, "release_memory", lambda device: None)
    net = _OomAbove(limit=1)
    img = np.random.default_rng(5).random((40, 40, 3), dtype=np.float32)
    reports = []
    out = run_job(run_tiled(net, img, device=torch.device("cuda"), tile=MIN_TILE, overlap=0,
                            use_autocast=False), reports.append)
    assert net.moved_to == ["cpu"]
    assert any("continuing on the CPU" in r.stage for r in reports)
    assert np.allclose(out, img)


def test_cancel_stops_between_tiles():
    net = _small_unet()
    token = CancelToken()
    img = np.zeros((200, 200, 3), np.float32)
    gen = run_tiled(net, img, device=CPU, multiple=4, tile=64, overlap=8, use_autocast=False, cancel=token)
    next(gen)
    token.cancel()
    with pytest.raises(Cancelled):
        next(gen)
