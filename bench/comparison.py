"""One row of the benchmark table: ours beside a peer, measured in the same run.

Every comparison module in ``bench/`` exposes ``run(quick: bool) -> list[Row]``; ``python -m
bench`` calls each in turn and prints one table. ``quick`` only proves a row still completes
(CI); its figures mean nothing.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Row:
    """``ours`` and ``peer`` in the same ``unit``; the goal is a ratio ours/peer.

    For a row where more is better (requests/s) the goal is met when ours/peer >= goal; where
    less is better (seconds, MiB) when ours/peer <= goal. A row with an absolute budget and no
    peer program (``--help`` under 0.3 s) puts the budget in ``peer`` and 1.0 in ``goal``.
    """

    name: str
    unit: str
    ours: float
    peer: float
    peer_name: str
    goal: float
    higher_is_better: bool = True

    @property
    def ratio(self) -> float:
        return self.ours / self.peer if self.peer else float("inf")

    @property
    def met(self) -> bool:
        if self.higher_is_better:
            return self.ratio >= self.goal
        return self.ratio <= self.goal
