"""The try-on engine: everything from photos to finished images, behind one call.

CONTRACT (other layers code against this; the implementation is being written):

    engine = TryOnEngine(checkpoints_dir, device="cpu", dtype=None)   # nothing heavy yet
    engine.load(ModelType.HD)            # optional preload (the service's /ready waits on it)
    result = engine.run(TryOnRequest(...), callback=on_step)
    result.images        # list[PIL.Image.Image], one per sample, RGB
    result.seed          # int, the seed actually used (request.seed == -1 -> random)
    result.mask          # PIL "L" at the working size, 255 = re-generated region
    result.masked_person # PIL RGB at the working size (grey 127 inside the mask)
    result.timings       # dict[str, float] seconds: preprocess, garment, denoise, decode, total
    engine.classify_garment(image) -> dict[Category, float]   # CLIP zero-shot probabilities

    callback(step: int, total: int) is called after every denoising step (step = 1..total);
    raising vto.errors.Cancelled inside it aborts the run (the exception propagates).
    Bad input raises vto.errors.VtoError subclasses (InvalidInput, PersonCheckFailed, ...).
"""
