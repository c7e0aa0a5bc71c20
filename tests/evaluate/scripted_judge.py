"""A scripted OpenAI-compatible judge: recorded judgments, replayed over real HTTP.

    python -m tests.evaluate.scripted_judge SCRIPT.json PORT

The script: {"rules": [{"contains": TEXT, "reply": TEXT, "status": CODE, "times": N}],
"default": TEXT}. A request's user message is matched against the rules in order; a rule
with "status" answers that HTTP error (with Retry-After: 0 on 429) for its first "times"
matches (always without "times"), and later matches fall through to the next rules. What
cannot run here (a paid judge's answers) comes from the script; the client, the HTTP and
the retries are real. GET /stats: requests received, per rule.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def build(script: dict) -> FastAPI:
    app = FastAPI()
    seen: Counter = Counter()

    @app.get("/health")
    def health():
        return {"ok": True}

    @app.get("/stats")
    def stats():
        return {"requests": seen["all"], "rules": {k: v for k, v in seen.items() if k != "all"}}

    @app.post("/v1/chat/completions")
    async def complete(request: Request):
        body = await request.json()
        seen["all"] += 1
        user = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        for index, rule in enumerate(script.get("rules", [])):
            if rule["contains"] not in user:
                continue
            seen[str(index)] += 1
            if "status" in rule:
                if seen[str(index)] <= rule.get("times", 10**9):
                    headers = {"retry-after": "0"} if rule["status"] == 429 else {}
                    return JSONResponse({"error": {"message": f"scripted {rule['status']}", "type": "scripted",
                                                   "param": None, "code": None}}, rule["status"], headers)
                continue
            return _completion(body, rule["reply"])
        return _completion(body, script.get("default", ""))

    return app


def _completion(body: dict, text: str) -> dict:
    return {"id": "chatcmpl-scripted", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}}


if __name__ == "__main__":
    uvicorn.run(build(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))), host="127.0.0.1",
                port=int(sys.argv[2]), log_level="warning")
