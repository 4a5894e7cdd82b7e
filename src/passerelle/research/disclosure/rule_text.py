"""What each disclosure rule means, in one sentence, for the findings a non-checker sees
without their detail (the detail carries the withheld number)."""

from __future__ import annotations

__all__ = ["RULE_TEXT"]

RULE_TEXT = {
    "threshold": "fewer persons or counts behind the cell than the policy's minimum",
    "dominance": "one or two contributors make up too much of the cell's total",
    "dominance-unknown": "the hub could not tell whether a few contributors dominate the cell",
    "p-ratio": "the others' total is too close to what the largest contributor holds",
    "secondary": "withheld so that a suppressed cell cannot be recomputed from a margin",
    "differencing": "too few persons away from a cell or population released before",
    "order-statistic": "a minimum, maximum or quantile is one person's value",
    "evidence-not-verified": "the hub could not re-derive the query; a checker reads it",
    "row-level": "row-level data: one row per person or identifier",
    "pseudonym": "a pseudonym or identifier column",
    "free-text": "free text, which can name a person",
    "zero": "a structural zero, which can disclose by itself",
    "filter": "a filter narrow enough to single people out",
    "structure": "a shape the check cannot read safely",
}
