"""Pure arithmetic for multipart uploads: pick a part size a destination accepts."""

from __future__ import annotations

from passerelle.errors import LimitExceededError
from passerelle.storage.model import MiB, PartLimits

__all__ = ["DEFAULT_PART_SIZE", "choose_part_size", "part_count", "use_multipart"]

DEFAULT_PART_SIZE = 8 * MiB
_ALIGN = MiB


def _human(size: int) -> str:
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if size >= factor:
            return f"{size / factor:.2f} {unit}"
    return f"{size} bytes"


def part_count(size: int, part_size: int) -> int:
    """Number of parts needed to send ``size`` bytes in parts of ``part_size``."""
    if part_size <= 0:
        raise ValueError("part_size must be positive")
    return max(1, -(-size // part_size))


def use_multipart(size: int, limits: PartLimits, preferred: int = DEFAULT_PART_SIZE) -> bool:
    """Whether an object of ``size`` bytes should be sent as a multipart upload."""
    return size > min(max(preferred, limits.min_part_size), limits.max_single_put)


def choose_part_size(size: int, limits: PartLimits, preferred: int = DEFAULT_PART_SIZE) -> int:
    """Smallest part size >= ``preferred`` that fits ``size`` in ``limits.max_parts`` parts.

    The result is a multiple of 1 MiB (unless the limits force otherwise), at least
    ``limits.min_part_size`` and at most ``limits.max_part_size``.  Raises
    :class:`LimitExceededError` when no part size can carry the object.
    """
    if size < 0:
        raise ValueError("size must not be negative")
    if size > limits.max_object_size:
        raise LimitExceededError(
            f"The object is {_human(size)}, more than the destination's limit of "
            f"{_human(limits.max_object_size)}; split it or choose another destination."
        )
    part = max(preferred, limits.min_part_size)
    needed = -(-size // limits.max_parts)
    if needed > part:
        part = -(-needed // _ALIGN) * _ALIGN
        if part > limits.max_part_size and needed <= limits.max_part_size:
            part = needed
    part = min(part, max(limits.max_part_size, limits.min_part_size))
    if part_count(size, part) > limits.max_parts:
        raise LimitExceededError(
            f"The object is {_human(size)} and cannot fit in {limits.max_parts} parts of at "
            f"most {_human(limits.max_part_size)}; choose another destination."
        )
    return part
