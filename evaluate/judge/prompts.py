"""Judge prompts are data: versioned YAML files in evaluate/judge/prompts/.

Each file holds `name`, `version`, `system`, `user` (with {fields}) and `max_tokens`.
A changed prompt gets a new version (a new file), so that cached judgments and published
scores name the prompt they came from; the cache key holds the rendered text as well,
so even an edit in place cannot return a stale judgment.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

PROMPTS_DIR = Path(__file__).parent / "prompts"


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    version: int
    system: str
    user: str
    max_tokens: int

    @property
    def label(self) -> str:
        """`name@vN`: how results and the cache name it."""
        return f"{self.name}@v{self.version}"

    @property
    def fields(self) -> set[str]:
        return {field for _, field, _, _ in string.Formatter().parse(self.user) if field}

    def render(self, **values: str) -> list[dict]:
        """The chat messages for one judgment. Values are inserted once, never parsed, so
        braces in an answer stay as they are."""
        missing = self.fields - set(values)
        if missing:
            raise ValueError(f"{self.label}: no value for {sorted(missing)}")
        return [{"role": "system", "content": self.system.strip()},
                {"role": "user", "content": self.user.format_map(values)}]


@lru_cache(maxsize=None)
def load_prompt(name: str, version: int | None = None, folder: Path = PROMPTS_DIR) -> JudgePrompt:
    """The prompt file `name.vN.yaml` (the highest N when `version` is None)."""
    candidates = sorted(folder.glob(f"{name}.v*.yaml"), key=lambda p: int(p.stem.rsplit(".v", 1)[1]))
    if version is not None:
        candidates = [p for p in candidates if p.stem.endswith(f".v{version}")]
    if not candidates:
        raise FileNotFoundError(f"no judge prompt {name!r}{f' version {version}' if version else ''} in {folder}")
    data = yaml.safe_load(candidates[-1].read_text(encoding="utf-8"))
    return JudgePrompt(data["name"], int(data["version"]), data["system"], data["user"], int(data["max_tokens"]))
