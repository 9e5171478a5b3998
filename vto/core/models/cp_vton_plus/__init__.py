"""CP-VTON+ (minar09/cp-vton-plus, CVPRW 2020): a geometric matching module (GMM, a 5x5
thin-plate-spline warp of the garment) followed by a try-on module (TOM, a U-Net that renders
the person and a composition mask) at 192x256. ``spec`` is torch-free; ``backend``,
``networks``, ``inputs`` and ``handoff`` are the torch side."""
