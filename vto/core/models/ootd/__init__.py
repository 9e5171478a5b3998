"""OOTDiffusion (levihsu/OOTDiffusion) on stock diffusers parts: hd and dc weights."""
