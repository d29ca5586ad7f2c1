"""Combining the agents' verdicts: hard gates and votes (docs/method.md section 5).

A gate's rejection rejects the row outright. Voters are weighed together: the row is rejected
when the voters that gave an opinion (pass or reject; skips do not count) reject it in at least
`reject_share` of cases. The primary reason of a rejected row is the first rejecting gate in
pipeline order (`AGENT_ORDER`), else the first rejecting voter. An agent in neither list does
not run.

`review_rows` runs the agents in pipeline order: row-scope agents see every row; set-scope
agents (dedup, difficulty, judge) see only rows that no verdict so far rejects, so that
deduplication keeps a representative that is itself clean and the policy's time is spent only on
rows that can still be kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from components.config import ConfigError
from components.data.agents import AGENT_ORDER, CleaningAgent
from components.data.rows import Row, Verdict


@dataclass(frozen=True)
class ConsensusConfig:
    gates: tuple[str, ...] = ("format", "verifiability", "consistency", "decontamination", "dedup")
    voters: tuple[str, ...] = ("difficulty", "judge")
    reject_share: float = 0.5

    def __post_init__(self) -> None:
        for name in (*self.gates, *self.voters):
            if name not in AGENT_ORDER:
                raise ConfigError(f"clean.consensus: unknown agent {name!r} (agents: {', '.join(AGENT_ORDER)})")
        both = set(self.gates) & set(self.voters)
        if both:
            raise ConfigError(f"clean.consensus: agent {sorted(both)[0]!r} is both a gate and a voter")
        if not 0.0 < self.reject_share <= 1.0:
            raise ConfigError(f"clean.consensus.reject_share must be in (0, 1], got {self.reject_share}")

    @property
    def active(self) -> tuple[str, ...]:
        """Agents that take part, in pipeline order."""
        return tuple(n for n in AGENT_ORDER if n in self.gates or n in self.voters)


def decide(verdicts: Mapping[str, Verdict], cfg: ConsensusConfig) -> tuple[str, Verdict] | None:
    """The (agent, verdict) that rejects the row, or None when the row is kept."""
    for name in AGENT_ORDER:
        if name in cfg.gates:
            v = verdicts.get(name)
            if v is not None and v.status == "reject":
                return name, v
    voted = [(n, verdicts[n]) for n in AGENT_ORDER
             if n in cfg.voters and n in verdicts and verdicts[n].status != "skip"]
    rejects = [nv for nv in voted if nv[1].status == "reject"]
    if rejects and len(rejects) >= cfg.reject_share * len(voted):
        return rejects[0]
    return None


def review_rows(rows: Sequence[Row], agents: Sequence[CleaningAgent],
                cfg: ConsensusConfig) -> list[dict[str, Verdict]]:
    """Every agent's verdict per row (agents a row was not shown to are absent from its dict)."""
    verdicts: list[dict[str, Verdict]] = [{} for _ in rows]
    for agent in sorted(agents, key=lambda a: AGENT_ORDER.index(a.name)):
        if agent.scope == "row":
            shown = list(range(len(rows)))
        else:
            shown = [i for i in range(len(rows)) if decide(verdicts[i], cfg) is None]
        out = agent.review([rows[i] for i in shown])
        if len(out) != len(shown):
            raise RuntimeError(f"agent {agent.name} returned {len(out)} verdicts for {len(shown)} rows")
        for i, v in zip(shown, out):
            verdicts[i][agent.name] = v
    return verdicts
