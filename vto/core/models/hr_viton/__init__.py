"""HR-VITON (sangyun884/HR-VITON): try-on condition generator + SPADE image generator at 1024x768."""
