"""HR-VITON (sangyun884/HR-VITON): try-on condition generator + SPADE image generator, 1024x768."""
