"""The accuracy budget an int8 twin must meet to be shipped, per task metric.

int8 can be near-free (Whisper's encoder) or costly (an ASR model's error
doubling, CLIP embeddings drifting): it is measured per model on real
inputs at export, against the fp32 graph's own figure on the same inputs.
Over budget, the model stays fp32 and the manifest records why; the int8
file is not shipped.

| metric   | budget                       |
|----------|------------------------------|
| wer      | at most +1 point (0.01)      |
| top1     | at most -1 point             |
| eer      | at most +1 point             |
| macro_f1 | at most -1 point             |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Budget:
    metric: str
    max_loss: float  # in the metric's own units (0.01 = one point)
    higher_is_better: bool

    def loss(self, fp32: float, int8: float) -> float:
        return (fp32 - int8) if self.higher_is_better else (int8 - fp32)

    def describe(self) -> str:
        sign = "-" if self.higher_is_better else "+"
        return f"{self.metric} {sign}{self.max_loss * 100:g} point(s) at most"


BUDGETS = {
    "wer": Budget("wer", 0.01, higher_is_better=False),
    "top1": Budget("top1", 0.01, higher_is_better=True),
    "eer": Budget("eer", 0.01, higher_is_better=False),
    "macro_f1": Budget("macro_f1", 0.01, higher_is_better=True),
}


def judge_int8(metric: str, fp32: float, int8: float, *, evidence: str, **figures: Any) -> dict[str, Any]:
    """The manifest's `int8` entry: accepted or rejected against the metric's budget."""
    budget = BUDGETS[metric]
    loss = budget.loss(fp32, int8)
    accepted = loss <= budget.max_loss + 1e-12
    verdict = "within" if accepted else "over"
    return {"status": "accepted" if accepted else "rejected", "metric": metric, "fp32": round(fp32, 6),
            "int8": round(int8, 6), "budget": budget.describe(), "evidence": evidence,
            "reason": f"{metric} {fp32:.4f} (fp32) -> {int8:.4f} (int8): {verdict} budget", **figures}


MIN_SPEEDUP = 1.05  # an int8 twin within budget but not this much faster than fp32 is not worth shipping


def ships(verdict: dict[str, Any]) -> bool:
    """Whether an int8 `verdict` (with a measured `speedup` over fp32) ships: within budget and faster.
    A twin within budget but no faster is refused here, and its reason says so."""
    if verdict.get("status") != "accepted":
        return False
    if verdict["speedup"] > MIN_SPEEDUP:
        return True
    verdict["reason"] += f"; not shipped: int8 runs at {verdict['speedup']}x the fp32 speed"
    return False


def not_attempted(reason: str) -> dict[str, Any]:
    return {"status": "not_attempted", "reason": reason}
