"""Consensus: hard gates reject outright, voters by share; set-scope agents see survivors only."""

import pytest

from components.config import ConfigError, build
from components.data.consensus import ConsensusConfig, decide, review_rows
from components.data.rows import PASS, Verdict, reject, skip
from tests.components.data.agents.conftest import make_row


def test_first_gate_in_pipeline_order_is_primary():
    v = {"dedup": reject("duplicate", "d"), "format": reject("empty", "e"), "difficulty": PASS}
    assert decide(v, ConsensusConfig())[0] == "format"
    assert decide({"format": PASS, "verifiability": skip("x")}, ConsensusConfig()) is None


def test_votes():
    cfg = ConsensusConfig(reject_share=0.5)
    hard = Verdict("reject", "too_hard", "0/4", 0.0)
    assert decide({"difficulty": hard}, cfg)[1].reason == "too_hard"
    assert decide({"difficulty": hard, "judge": PASS}, cfg)[0] == "difficulty"       # 1 of 2 >= 0.5
    assert decide({"difficulty": hard, "judge": PASS}, ConsensusConfig(reject_share=0.75)) is None
    assert decide({"difficulty": hard, "judge": skip("cap")}, ConsensusConfig(reject_share=0.75)) is not None
    # A gate demoted to a voter no longer rejects alone when another voter disagrees.
    cfg = ConsensusConfig(gates=("format",), voters=("consistency", "judge"), reject_share=0.75)
    assert decide({"consistency": reject("inconsistent", "x"), "judge": PASS}, cfg) is None


def test_config_is_strict():
    with pytest.raises(ConfigError, match="unknown agent 'fomat'"):
        build(ConsensusConfig, {"gates": ["fomat"]})
    with pytest.raises(ConfigError, match="both a gate and a voter"):
        build(ConsensusConfig, {"gates": ["format"], "voters": ["format"]})
    assert ConsensusConfig(gates=("dedup", "format"), voters=()).active == ("format", "dedup")


class _Recorder:
    def __init__(self, name, scope, verdict):
        self.name, self.scope, self.verdict, self.seen = name, scope, verdict, []

    def review(self, rows):
        self.seen.append([r.line for r in rows])
        return [self.verdict(r) for r in rows]


def test_set_scope_agents_see_only_survivors():
    rows = [make_row(line=i) for i in range(1, 5)]
    fmt = _Recorder("format", "row", lambda r: reject("empty", "e") if r.line == 2 else PASS)
    ver = _Recorder("verifiability", "row", lambda r: reject("unverifiable", "u") if r.line == 3 else PASS)
    dd = _Recorder("dedup", "set", lambda r: PASS)
    verdicts = review_rows(rows, [dd, ver, fmt], ConsensusConfig())
    assert fmt.seen == [[1, 2, 3, 4]] and ver.seen == [[1, 2, 3, 4]] and dd.seen == [[1, 4]]
    assert "dedup" not in verdicts[1] and verdicts[1]["verifiability"].status == "pass"


def test_agent_returning_wrong_count_is_an_error():
    bad = _Recorder("format", "row", lambda r: PASS)
    bad.review = lambda rows: []
    with pytest.raises(RuntimeError, match="returned 0 verdicts for 1 rows"):
        review_rows([make_row()], [bad], ConsensusConfig())
