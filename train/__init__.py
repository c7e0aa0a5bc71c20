"""Adapter training (QLoRA SFT on Mixtral, two-stage LMM training). Reuses engine/ for
model loading, quantization and prompt formats."""
