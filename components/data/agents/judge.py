"""The judge agent (optional, off by default): an LLM reviews each problem and its answer.

It asks a model behind an OpenAI-compatible `/chat/completions` endpoint (e.g. `vllm serve` on a
GPU box) whether the problem is well-posed and the given answer right, and expects one line
back: `ACCEPT` or `REJECT: <reason>`. A reply it cannot read is a skip (no objection) with the
reply quoted; an endpoint that cannot be reached after `retries` raises `JudgeError` naming the
URL, so an enabled judge never fails silently. At most `max_rows` rows are judged per run.
The API key, if the server needs one, is read from the environment variable `api_key_env`.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from components.data.agents import Scope
from components.data.rows import PASS, Row, Verdict, reject, skip

SYSTEM_PROMPT = (
    "You review problems for a maths training set. Reply with exactly one line: ACCEPT if the "
    "problem is well-posed (complete, unambiguous, solvable) and the given answer is correct; "
    "otherwise REJECT: followed by a short reason.")


class JudgeError(ConnectionError):
    """The judge endpoint could not be used; the message names it."""


@dataclass(frozen=True)
class JudgeConfig:
    enabled: bool = False
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "judge"
    api_key_env: str = "OPENAI_API_KEY"
    max_rows: int = 1000
    max_tokens: int = 64
    timeout_s: float = 60.0
    retries: int = 2
    concurrency: int = 4


def parse_reply(text: str) -> Verdict:
    """`ACCEPT` -> pass, `REJECT: why` -> judge_rejected, anything else -> skip.

    >>> parse_reply("REJECT: the answer should be 7").reason
    'judge_rejected'
    >>> parse_reply(" accept ").status
    'pass'
    """
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    head = line.upper()
    if head.startswith("ACCEPT"):
        return PASS
    if head.startswith("REJECT"):
        reason = line[len("REJECT"):].lstrip(" :-").strip() or "no reason given"
        return reject("judge_rejected", f"judge: {reason[:200]}")
    return skip(f"unreadable judge reply: {text.strip()[:80]!r}")


@dataclass
class JudgeAgent:
    cfg: JudgeConfig = field(default_factory=JudgeConfig)
    name: str = "judge"
    scope: Scope = "set"

    def review(self, rows: Sequence[Row]) -> list[Verdict]:
        n = min(len(rows), self.cfg.max_rows)
        with ThreadPoolExecutor(max_workers=max(1, self.cfg.concurrency)) as pool:
            replies = list(pool.map(self.ask, rows[:n]))
        verdicts = [parse_reply(r) for r in replies]
        verdicts += [skip(f"not judged: over the cap of {self.cfg.max_rows} rows")] * (len(rows) - n)
        return verdicts

    def ask(self, row: Row) -> str:
        """The judge's reply text for one row (temperature 0)."""
        cfg = self.cfg
        body = json.dumps({
            "model": cfg.model, "temperature": 0, "max_tokens": cfg.max_tokens,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                         {"role": "user", "content": f"Problem:\n{row.problem}\n\nGiven answer: {row.answer}"}],
        }).encode("utf-8")
        url = cfg.base_url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(cfg.api_key_env, "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        last = ""
        for attempt in range(cfg.retries + 1):
            try:
                req = urllib.request.Request(url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=cfg.timeout_s) as resp:
                    data = json.loads(resp.read().decode("utf-8"))
                return str(data["choices"][0]["message"]["content"] or "")
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code} {exc.reason}"
                if exc.code < 500:
                    break  # a client error will not go away on retry
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = str(getattr(exc, "reason", exc))
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                return f"(malformed response: {exc.__class__.__name__})"
            time.sleep(min(2.0 ** attempt, 8.0) * 0.1)
        raise JudgeError(f"judge endpoint {url}: {last} (start the server or set clean.judge.enabled: false)")
