"""Live migration of a running hub's storage between clouds.

``phases`` (pure: where reads and writes go in each phase), ``live_store`` (the
store wrapper that follows the phase), ``binding`` (the phase in the hub's
database), ``mover`` (start, run, cutover, rollback, finish, status).
"""

from passerelle.live.mover import (
    CutoverEvidence,
    MoveStatus,
    cutover,
    finish,
    migration_status,
    move_status,
    rollback,
    run_backlog,
    start_move,
)
from passerelle.live.phases import Binding, Phase, Route, next_phase, route

__all__ = [
    "Binding",
    "CutoverEvidence",
    "MoveStatus",
    "Phase",
    "Route",
    "cutover",
    "finish",
    "migration_status",
    "move_status",
    "next_phase",
    "rollback",
    "route",
    "run_backlog",
    "start_move",
]
