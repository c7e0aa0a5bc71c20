"""Judges: any model on an OpenAI-compatible server scores answer files.

| module | job |
|---|---|
| `client.py` | the judge client: cache, bounded concurrency, retries with backoff, tokens and cost |
| `cache.py` | judgments on disk (SQLite), keyed by judge model, prompt version and inputs |
| `prompts.py` + `prompts/` | the judge prompts, versioned data files |
| `bimed_mbench.py` | the LLaVA-Med relative score (English, Arabic), position bias |
| `uphill.py` | agree / disagree / neutral on health claims; accuracy and consistency by level |
| `pairwise.py` | two models, both orders, flips as ties; verdicts into the arena's vote store |
| `__main__.py` | `python -m evaluate.judge` |
"""
