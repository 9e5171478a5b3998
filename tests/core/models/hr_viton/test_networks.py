"""The two networks at small sizes: shapes, the noise (seeded, in order, never global), the
parts of the condition generator that cannot reach an output."""

from __future__ import annotations

import torch

from vto.core.models.hr_viton.networks import ConditionGenerator, SPADEGenerator, identity_grid, warp
from vto.dev.hr_viton import randomize


def small_generator(seed: int = 0) -> SPADEGenerator:
    return randomize(SPADEGenerator(ngf=2, height=256, width=128), torch.Generator().manual_seed(seed)).eval()


def gen_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 9, 256, 128, generator=g) * 2 - 1
    labels = torch.randint(0, 7, (1, 256, 128), generator=g)
    seg = torch.nn.functional.one_hot(labels, 7).permute(0, 3, 1, 2).float().contiguous()
    return x, seg


@torch.no_grad()
def test_generator_is_a_function_of_its_seed_only():
    gen, (x, seg) = small_generator(), gen_inputs()
    global_state = torch.random.get_rng_state()
    a = gen(x, seg, torch.Generator().manual_seed(5))
    assert torch.random.get_rng_state().equal(global_state)       # no global draw
    torch.manual_seed(123)                                          # global state is irrelevant
    b = gen(x, seg, torch.Generator().manual_seed(5))
    c = gen(x, seg, torch.Generator().manual_seed(6))
    assert a.shape == (1, 3, 256, 128) and a.abs().max() <= 1
    assert a.equal(b)
    assert (a - c).abs().max() > 1e-3                               # the noise matters


@torch.no_grad()
def test_noise_follows_the_originals_draws():
    """Each SPADE norm draws randn(b, w, h, 1) at its resolution, blocks in order, within a
    block the shortcut norm first, then norm_0, norm_1. With every noise scale zeroed the seed
    stops mattering; with only the last norm's set, the output is the noiseless network with
    the stream's last draw added by hand."""
    gen, (x, seg) = small_generator(), gen_inputs()
    for name, p in gen.named_parameters():
        if name.endswith("noise_scale"):
            p.zero_()
    plain = gen(x, seg, torch.Generator().manual_seed(1))
    assert plain.equal(gen(x, seg, torch.Generator().manual_seed(2)))

    blocks = [gen.head_0, gen.G_middle_0, gen.G_middle_1, gen.up_0, gen.up_1, gen.up_2,
              gen.up_3, gen.up_4]
    stream = torch.Generator().manual_seed(9)
    for level, block in enumerate(blocks):
        h, w = 2 * 2 ** level, 2 ** level                     # latent 2x1, doubling
        for _ in range(3 if block.learned_shortcut else 2):
            last = torch.randn(1, w, h, 1, generator=stream)      # the final one is up_4.norm_1
    scale = torch.linspace(0.1, 0.5, gen.up_4.norm_1.noise_scale.numel())
    noise = (last * scale).transpose(1, 3)

    def add_noise(module, args):
        return (args[0] + noise,)

    hook = gen.up_4.norm_1.param_free_norm.register_forward_pre_hook(add_noise)
    by_hand = gen(x, seg, torch.Generator().manual_seed(0))
    hook.remove()
    gen.up_4.norm_1.noise_scale.copy_(scale)
    seeded = gen(x, seg, torch.Generator().manual_seed(9))
    assert seeded.equal(by_hand) and not seeded.equal(plain)


@torch.no_grad()
def test_condition_generator_shapes_and_dead_branch():
    tocg = randomize(ConditionGenerator(ngf=8), torch.Generator().manual_seed(0), flow_gain=0.05).eval()
    g = torch.Generator().manual_seed(2)
    cloth, person = torch.rand(1, 4, 256, 192, generator=g), torch.rand(1, 16, 256, 192, generator=g)
    flow, seg, warped_c, warped_cm = tocg(cloth, person)
    assert flow.shape == (1, 128, 96, 2) and seg.shape == (1, 13, 256, 192)
    assert warped_c.shape == (1, 3, 256, 192) and warped_cm.shape == (1, 1, 256, 192)
    assert seg.min() >= 0                                          # 'relu' out layer
    # conv2 (the person pyramid beyond the coarsest level) never reaches an output
    for conv in tocg.conv2:
        conv.weight.normal_()
    again = tocg(cloth, person)
    assert all(a.equal(b) for a, b in zip((flow, seg, warped_c, warped_cm), again))
    # ... while conv1 does
    tocg.conv1[0].weight.normal_()
    assert not tocg(cloth, person)[0].equal(flow)


def test_zero_flow_warp_is_the_identity_grid_sample():
    """With zero flow the warp samples at linspace(-1, 1) with align_corners=False, as trained:
    not the identity on the pixels (a half-pixel shrink towards the centre)."""
    x = torch.arange(12.0).view(1, 1, 3, 4)
    out = warp(x, torch.zeros(1, 3, 4, 2), 1.0, 1.0)
    expected = torch.nn.functional.grid_sample(x, identity_grid(1, 3, 4, x), align_corners=False,
                                               padding_mode="border")
    assert out.equal(expected)
    assert not out.equal(x)
