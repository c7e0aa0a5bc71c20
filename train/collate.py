"""Batches: right-padded token ids, labels padded with -100, and the batch's images as pixels.

Images go through the engine's own intake (`engine.images.load_image`: any accepted file
type, DICOM included, to 8-bit RGB) and the model's image processor, exactly as a chat
turn does when the app serves the model, in the order their placeholders appear.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from train.masking import IGNORE_INDEX


def pad_token_id(tokenizer) -> int:
    """Padding never reaches the loss (label -100, attention 0), so any real id will do."""
    for candidate in (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


@dataclass
class Collator:
    pad_id: int
    image_processor: object | None = None  # a Llava processor's image processor, or None for text
    pixel_dtype: torch.dtype = torch.float32

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), longest), self.pad_id, dtype=torch.long)
        labels = torch.full((len(features), longest), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(features), longest), dtype=torch.long)
        for row, feature in enumerate(features):
            length = len(feature["input_ids"])
            ids[row, :length] = torch.as_tensor(feature["input_ids"])
            labels[row, :length] = torch.as_tensor(feature["labels"])
            mask[row, :length] = 1
        batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        paths = [path for feature in features for path in feature.get("images") or ()]
        if paths:
            batch["pixel_values"] = self.pixels(paths)
        return batch

    def pixels(self, paths: list[str]) -> torch.Tensor:
        from engine.images import load_image

        if self.image_processor is None:
            raise ValueError("a sample has images but the model has no image processor")
        pictures = [load_image(path).image for path in paths]
        pixels = self.image_processor(pictures, return_tensors="pt")["pixel_values"]
        return pixels.to(self.pixel_dtype)
