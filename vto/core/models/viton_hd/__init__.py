"""VITON-HD (shadow2496/VITON-HD, CVPR 2021): segmentation generator + GMM warp + ALIAS
generator at 1024x768. ``spec`` is torch-free; the rest is the backend's torch side."""
