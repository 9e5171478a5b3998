"""The pipeline on the tiny checkpoint: images, seeds, guidance branches, the mask's guarantee."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vto.core.models.catvton.pipeline import resize_and_crop, resize_and_pad
from vto.errors import InvalidInput

from .conftest import SIZE

STEPS = 2


def run(pipe, inputs, **kw):
    args = dict(person=inputs["person"], garment=inputs["garment"], mask=inputs["mask"],
                size=SIZE, num_inference_steps=STEPS, guidance_scale=2.5, seed=7)
    args.update(kw)
    return pipe(**args)


def arrays(images):
    return [np.asarray(im, np.int16) for im in images]


def test_images_at_the_working_size(catvton_pipeline, catvton_inputs):
    images = run(catvton_pipeline, catvton_inputs, num_images_per_prompt=2)
    assert len(images) == 2
    assert all(im.size == SIZE and im.mode == "RGB" for im in images)
    assert not np.array_equal(*arrays(images))  # two samples, two draws


def test_the_seed_determines_the_images(catvton_pipeline, catvton_inputs):
    first, again = (arrays(run(catvton_pipeline, catvton_inputs, seed=3)) for _ in range(2))
    other = arrays(run(catvton_pipeline, catvton_inputs, seed=4))
    assert np.array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])


def test_steps_are_reported_and_a_raise_stops(catvton_pipeline, catvton_inputs):
    calls = []
    run(catvton_pipeline, catvton_inputs, num_inference_steps=3,
        callback=lambda k, n: calls.append((k, n)))
    assert calls == [(1, 3), (2, 3), (3, 3)]

    class Stop(Exception):
        pass

    def stop(k, n):
        calls.append(k)
        raise Stop

    calls.clear()
    with pytest.raises(Stop):
        run(catvton_pipeline, catvton_inputs, num_inference_steps=3, callback=stop)
    assert calls == [1]


@pytest.mark.parametrize("guidance, branches", [(1.0, 1), (2.5, 2)])
def test_guidance_above_one_runs_a_zero_garment_branch(catvton_pipeline, catvton_inputs,
                                                       guidance, branches):
    seen = []
    hook = catvton_pipeline.unet.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].clone()))
    try:
        run(catvton_pipeline, catvton_inputs, num_images_per_prompt=2, guidance_scale=guidance,
            num_inference_steps=1)
    finally:
        hook.remove()
    x = seen[0]
    h = x.shape[-2] // 2  # person rows above garment rows
    assert x.shape == (2 * branches, 9, 2 * SIZE[1] // 8, SIZE[0] // 8)
    assert torch.all(x[:, 4, h:] == 0)  # the garment half is never masked
    garment_latents = x[:, 5:, h:]
    if branches == 2:
        assert torch.all(garment_latents[:2] == 0) and garment_latents[2:].abs().sum() > 0
    person = x[:, 5:, :h]  # one posterior draw per sample, the same in both branches
    assert not torch.equal(person[0], person[1])
    if branches == 2:
        assert torch.equal(person[:2], person[2:])


def test_draws_follow_the_documented_streams(catvton_pipeline, catvton_inputs):
    """Posterior samples (masked person, then garment) from one generator seeded with the
    seed, as the original's global RNG after torch.manual_seed; initial noise from another
    seeded the same, as the generator the original is given."""
    pipe, seed = catvton_pipeline, 5
    seen = []
    hook = pipe.unet.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    try:
        run(pipe, catvton_inputs, guidance_scale=1.0, num_inference_steps=1, seed=seed)
    finally:
        hook.remove()
    x = seen[0]
    h = x.shape[-2] // 2
    person, garment, mask = pipe.prepare_images(catvton_inputs["person"],
                                                catvton_inputs["garment"],
                                                catvton_inputs["mask"], SIZE)
    masked = pipe.pixels(person) * (pipe.mask_pixels(mask) < 0.5)
    stream = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for pixels, rows in ((masked, slice(None, h)), (pipe.pixels(garment), slice(h, None))):
            posterior = pipe.vae.encode(pixels.contiguous()).latent_dist  # as the original
            draw = torch.randn(posterior.mean.shape, generator=stream)
            expected = (posterior.mean + posterior.std * draw) * pipe.vae.config.scaling_factor
            assert torch.equal(x[:, 5:, rows], expected)
    noise = torch.randn(x[:, :4].shape, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(x[:, :4], noise)


def test_person_pixels_inside_the_mask_do_not_matter(catvton_pipeline, catvton_inputs):
    """What the original guarantees: the masked region (the mask after the app's blur and
    binarisation) is blanked before encoding. It does not keep the rest pixel-exact: the whole
    person is re-generated (there is no repaint)."""
    _, _, blurred = catvton_pipeline.prepare_images(catvton_inputs["person"],
                                                    catvton_inputs["garment"],
                                                    catvton_inputs["mask"], SIZE)
    effective = catvton_pipeline.mask_pixels(blurred)[0, 0].numpy() == 1
    assert 0.5 < effective.sum() / np.count_nonzero(np.asarray(catvton_inputs["mask"])) < 1
    base = arrays(run(catvton_pipeline, catvton_inputs))[0]
    pixels = np.array(catvton_inputs["person"])
    pixels[effective] = (255, 0, 0)
    changed = arrays(run(catvton_pipeline, {**catvton_inputs,
                                            "person": Image.fromarray(pixels)}))[0]
    assert np.array_equal(base, changed)
    pixels[~effective] = (255, 0, 0)
    changed = arrays(run(catvton_pipeline, {**catvton_inputs,
                                            "person": Image.fromarray(pixels)}))[0]
    assert not np.array_equal(base, changed)


def test_the_garment_matters(catvton_pipeline, catvton_inputs):
    base = arrays(run(catvton_pipeline, catvton_inputs))[0]
    flipped = catvton_inputs["garment"].transpose(Image.FLIP_LEFT_RIGHT)
    assert not np.array_equal(base, arrays(run(catvton_pipeline,
                                               {**catvton_inputs, "garment": flipped}))[0])


def test_mask_is_blurred_then_binarised_as_the_app_does(catvton_pipeline, catvton_inputs):
    mask = Image.new("L", SIZE, 0)
    mask.paste(255, (8, 8, 56, 48))   # a block survives the radius-9 blur and 0.5 threshold
    mask.paste(255, (30, 60, 32, 84))  # a 2-pixel line does not
    mask.putpixel((60, 80), 1)        # any painted value counts (app: mask > 0 -> 255)
    _, _, prepared = catvton_pipeline.prepare_images(catvton_inputs["person"],
                                                     catvton_inputs["garment"], mask, SIZE)
    binary = catvton_pipeline.mask_pixels(prepared)[0, 0].numpy()
    assert binary[28, 32] == 1 and binary[70, 31] == 0
    assert binary[8:48, 8:56].mean() > 0.8


def test_crop_and_pad_follow_the_original_arithmetic():
    person = Image.new("RGB", SIZE, (10, 20, 30))
    assert resize_and_crop(person, SIZE).tobytes() == person.tobytes()
    padded = np.asarray(resize_and_pad(Image.new("RGB", (100, 100), (255, 0, 0)), (60, 80)))
    # square into 60x80: 60x60 at rows 10..69, white above and below
    assert padded.shape == (80, 60, 3)
    assert (padded[:10] == 255).all() and (padded[70:] == 255).all()
    assert (padded[10:70] == (255, 0, 0)).all()


def test_bad_inputs_are_refused(catvton_pipeline, catvton_inputs):
    with pytest.raises(InvalidInput, match="same size"):
        run(catvton_pipeline, {**catvton_inputs, "mask": Image.new("L", (32, 32))})
    with pytest.raises(InvalidInput, match="multiples of 8"):
        run(catvton_pipeline, catvton_inputs, size=(60, 88))
