"""Zero-shot garment category with the CLIP model the try-on already ships (clip-vit-large-patch14).

Used by the catalogue when neither a sidecar nor the filename says what a garment is. The
image side is the same CLIPVisionModelWithProjection the prompt encoder uses; the text side is
CLIP's text tower with its projection, from the same files. The prediction is a guess and is
shown as one (the catalogue marks it "predicted").
"""

from __future__ import annotations

import torch
from PIL import Image

from vto.core.checkpoints import CheckpointDir
from vto.core.models.base import SharedParts
from vto.core.types import Category

PROMPTS: dict[Category, list[str]] = {
    Category.UPPER_BODY: ["a photo of a shirt", "a photo of a top", "a photo of a t-shirt",
                          "a photo of a sweater", "a photo of a jacket", "a photo of a blouse"],
    Category.LOWER_BODY: ["a photo of pants", "a photo of jeans", "a photo of a skirt",
                          "a photo of shorts", "a photo of trousers"],
    Category.DRESS: ["a photo of a dress", "a photo of a gown"],
}


class GarmentClassifier:
    def __init__(self, vision, text, tokenizer, processor, logit_scale: float, device) -> None:
        self.vision, self.text, self.tokenizer, self.processor = vision, text, tokenizer, processor
        self.logit_scale, self.device = logit_scale, device
        self._text_embeds = self._encode_prompts()

    @classmethod
    def from_checkpoints(cls, ckpt: CheckpointDir, device: torch.device,
                         parts: SharedParts | None = None) -> "GarmentClassifier":
        """The vision tower is the one the OOTD prompts use (shared through ``parts``: one
        copy in memory); the text tower with its projection is the classifier's own."""
        from transformers import CLIPImageProcessorPil, CLIPTextModelWithProjection, CLIPTokenizer

        from vto.core.models.ootd.pipeline import load_clip_vision, quiet_loading, shared_key

        parts = parts if parts is not None else SharedParts()
        with quiet_loading():  # each tower ignores the other's weights: expected
            vision = parts.get(shared_key("image_encoder", ckpt, device),
                               lambda: load_clip_vision(ckpt.clip, device))
            text = CLIPTextModelWithProjection.from_pretrained(ckpt.clip,
                                                               torch_dtype=torch.float32)
        tokenizer = CLIPTokenizer.from_pretrained(ckpt.ootd / "tokenizer")  # the same CLIP BPE
        processor = CLIPImageProcessorPil.from_pretrained(ckpt.clip)
        return cls(vision, text.to(device).eval(), tokenizer, processor, _logit_scale(ckpt),
                   device)

    @torch.inference_mode()
    def _encode_prompts(self) -> torch.Tensor:
        prompts = [p for group in PROMPTS.values() for p in group]
        tokens = self.tokenizer(prompts, padding=True, return_tensors="pt").to(self.device)
        embeds = self.text(**tokens).text_embeds
        return embeds / embeds.norm(dim=-1, keepdim=True)

    @torch.inference_mode()
    def __call__(self, image: Image.Image) -> dict[Category, float]:
        pixels = self.processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"]
        embed = self.vision(pixels.to(self.device)).image_embeds
        embed = embed / embed.norm(dim=-1, keepdim=True)
        probs = (self.logit_scale * embed @ self._text_embeds.T).softmax(dim=-1)[0]
        # A category's probability is the sum over its prompts.
        scores, start = {}, 0
        for category, group in PROMPTS.items():
            scores[category] = float(probs[start:start + len(group)].sum())
            start += len(group)
        return scores


def _logit_scale(ckpt: CheckpointDir) -> float:
    """CLIP's learned temperature (exp(logit_scale), 100 in the released model)."""
    path = ckpt.clip / "model.safetensors"
    if path.is_file():
        from safetensors import safe_open

        with safe_open(path, "pt") as f:
            if "logit_scale" in f.keys():
                return float(f.get_tensor("logit_scale").exp().clamp(max=100))
    return 100.0
