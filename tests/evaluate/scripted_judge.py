"""A scripted OpenAI-compatible judge: recorded judgments, replayed over real HTTP.

    python -m tests.evaluate.scripted_judge SCRIPT.json PORT

The script: {"rules": [{"contains": TEXT, "reply": TEXT, "status": CODE, "times": N}],
"default": TEXT}. A request's user message is matched against the rules in order (a list
of texts in "contains" matches when the message holds every one of them); a rule
with "status" answers that HTTP error (with Retry-After: 0 on 429) for its first "times"
matches (always without "times"), and later matches fall through to the next rules. What
cannot run here (a paid judge's answers) comes from the script; the client, the HTTP and
the retries are real. A rule with "echo_json": {"after": MARKER, "prefix": TEXT} answers the
JSON object that follows MARKER in the message with TEXT put before each string value (a
stand-in translator that keeps every number, placeholder and name). "delay": SECONDS waits
before answering (a slow model, so a test can stop its client mid-call). GET /stats:
requests received, per rule.
"""

from __future__ import annotations

import asyncio
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
            wanted = rule["contains"] if isinstance(rule["contains"], list) else [rule["contains"]]
            if not all(text in user for text in wanted):
                continue
            seen[str(index)] += 1
            if rule.get("delay"):
                await asyncio.sleep(rule["delay"])
            if "status" in rule:
                if seen[str(index)] <= rule.get("times", 10**9):
                    headers = {"retry-after": "0"} if rule["status"] == 429 else {}
                    return JSONResponse({"error": {"message": f"scripted {rule['status']}", "type": "scripted",
                                                   "param": None, "code": None}}, rule["status"], headers)
                continue
            if "echo_json" in rule:
                return _completion(body, _echo_json(user, **rule["echo_json"]))
            return _completion(body, rule["reply"])
        return _completion(body, script.get("default", ""))

    return app


def _echo_json(user: str, after: str, prefix: str) -> str:
    start = user.index("{", user.index(after))
    value, _ = json.JSONDecoder().raw_decode(user[start:])
    return json.dumps({key: prefix + text if isinstance(text, str) else text for key, text in value.items()},
                      ensure_ascii=False)


def _completion(body: dict, text: str) -> dict:
    return {"id": "chatcmpl-scripted", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}}


if __name__ == "__main__":
    uvicorn.run(build(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))), host="127.0.0.1",
                port=int(sys.argv[2]), log_level="warning")
