"""BiMediX's translation pipeline (paper §3.1.2, Appendix C): English samples → Arabic,
scored 0-100 by an LLM, refined with that feedback, and what stays under the threshold
(plus a random share of the rest) reviewed by a person (train/review.py)."""
