"""From a person photo to what a model needs: pose, parsing, masks, framing."""
