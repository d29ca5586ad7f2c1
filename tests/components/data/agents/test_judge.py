"""The judge agent against a real tiny OpenAI-compatible server on 127.0.0.1."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from components.data.agents.judge import JudgeAgent, JudgeConfig, JudgeError, parse_reply
from tests.components.data.agents.conftest import make_row


class _Judge(BaseHTTPRequestHandler):
    """Rejects problems containing 'ill-posed', answers garbage for 'garble', else ACCEPT."""

    seen: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Judge.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        user = body["messages"][-1]["content"]
        reply = ("REJECT: the problem is ill-posed" if "ill-posed" in user
                 else "I am not sure" if "garble" in user else "ACCEPT")
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_judge_verdicts_from_a_live_endpoint(server, monkeypatch):
    monkeypatch.setenv("JUDGE_TEST_KEY", "sekret")
    _Judge.seen.clear()
    cfg = JudgeConfig(enabled=True, base_url=server, model="tiny-judge", api_key_env="JUDGE_TEST_KEY", max_rows=3)
    rows = [make_row("Compute 2+3."), make_row("This ill-posed problem has no question."),
            make_row("garble"), make_row("Compute 4+4.", "8")]
    verdicts = JudgeAgent(cfg).review(rows)
    assert [v.status for v in verdicts] == ["pass", "reject", "skip", "skip"]
    assert verdicts[1].reason == "judge_rejected" and "ill-posed" in verdicts[1].message
    assert "over the cap of 3" in verdicts[3].message
    assert {s["path"] for s in _Judge.seen} == {"/v1/chat/completions"}
    assert {s["model"] for s in _Judge.seen} == {"tiny-judge"} and _Judge.seen[0]["temperature"] == 0
    assert _Judge.seen[0]["auth"] == "Bearer sekret"


def test_dead_endpoint_raises_one_line(server):
    cfg = JudgeConfig(enabled=True, base_url="http://127.0.0.1:9/v1", retries=0, timeout_s=2)
    with pytest.raises(JudgeError, match=r"judge endpoint http://127.0.0.1:9/v1/chat/completions") as exc:
        JudgeAgent(cfg).review([make_row()])
    assert "\n" not in str(exc.value)


def test_parse_reply_forms():
    assert parse_reply("ACCEPT.").status == "pass"
    assert parse_reply("Reject - answer wrong").message == "judge: answer wrong"
    assert parse_reply("").status == "skip"


def test_judge_votes_in_a_cleaning_run(server, tmp_path):
    import pyarrow.parquet as pq

    from components.data.cleaning import CleanConfig, run_clean

    src = tmp_path / "rows.jsonl"
    src.write_text('{"problem": "Compute 2+3.", "answer": "5"}\n'
                   '{"problem": "This ill-posed problem: compute 2+2.", "answer": "4"}\n'
                   '{"problem": "Compute 3+3.", "answer": "6"}\n')
    cfg = CleanConfig(judge=JudgeConfig(enabled=True, base_url=server))
    rep = run_clean([str(src)], tmp_path / "out", ["aime24"], None, cfg)
    assert rep.rows_kept == 2 and rep.report["per_agent"]["judge"]["rejected"] == 1
    (row,) = pq.read_table(tmp_path / "out" / "rejected.parquet").to_pylist()
    assert (row["line"], row["reason"], row["agent"]) == (2, "judge_rejected", "judge")
    assert row["verdict_format"] == "pass" and row["verdict_difficulty"] == "off"
