"""Pure cost and duration estimates of a migration from the provider profiles."""

from __future__ import annotations

from dataclasses import dataclass, field

from passerelle.providers import ProviderProfile

__all__ = ["Estimate", "estimate_migration", "parse_rate"]

GB = 10**9


@dataclass(frozen=True, slots=True)
class Estimate:
    """What moving ``objects`` / ``bytes`` should cost and take."""

    objects: int
    bytes: int
    egress_cost: float
    egress_currency: str
    source_request_cost: float
    destination_request_cost: float
    destination_currency: str
    source_requests: int
    destination_requests: int
    seconds: float
    bandwidth_bytes_per_s: float
    objects_per_s: float
    costs_by_currency: dict[str, float] = field(default_factory=dict)


def estimate_migration(
    objects: int,
    total_bytes: int,
    multipart_objects: int,
    multipart_parts: int,
    source: ProviderProfile | None,
    destination: ProviderProfile | None,
    *,
    bandwidth_bytes_per_s: float = 125_000_000.0,
    objects_per_s: float = 500.0,
) -> Estimate:
    """Estimate cost (egress + requests) and time of copying the planned objects.

    ``multipart_objects`` objects go as multipart uploads of ``multipart_parts``
    parts in all (each upload costs its parts plus two requests); the others cost
    one PUT each.  Time is
    the larger of the bandwidth-bound and the request-rate-bound durations.
    """
    small_count = objects - multipart_objects
    dest_requests = small_count + multipart_parts + 2 * multipart_objects
    list_requests = -(-objects // 1000)
    source_requests = objects + list_requests
    egress = 0.0
    src_currency = source.prices.currency if source else "EUR"
    dst_currency = destination.prices.currency if destination else "EUR"
    src_requests_cost = dst_requests_cost = 0.0
    if source is not None:
        billable_gb = max(0.0, total_bytes / GB - source.prices.egress_free_gb_per_month)
        egress = billable_gb * source.prices.egress_per_gb
        src_requests_cost = (
            objects * source.prices.read_per_1000 + list_requests * source.prices.list_per_1000
        ) / 1000
    if destination is not None:
        dst_requests_cost = dest_requests * destination.prices.write_per_1000 / 1000
    seconds = max(
        total_bytes / bandwidth_bytes_per_s if bandwidth_bytes_per_s > 0 else 0.0,
        objects / objects_per_s if objects_per_s > 0 else 0.0,
    )
    costs: dict[str, float] = {}
    costs[src_currency] = costs.get(src_currency, 0.0) + egress + src_requests_cost
    costs[dst_currency] = costs.get(dst_currency, 0.0) + dst_requests_cost
    return Estimate(
        objects=objects,
        bytes=total_bytes,
        egress_cost=round(egress, 4),
        egress_currency=src_currency,
        source_request_cost=round(src_requests_cost, 4),
        destination_request_cost=round(dst_requests_cost, 4),
        destination_currency=dst_currency,
        source_requests=source_requests,
        destination_requests=dest_requests,
        seconds=seconds,
        bandwidth_bytes_per_s=bandwidth_bytes_per_s,
        objects_per_s=objects_per_s,
        costs_by_currency={k: round(v, 4) for k, v in costs.items()},
    )


_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
}


def parse_rate(text: str) -> float:
    """Bytes per second from ``200MB/s``, ``1Gbit/s``, ``50MiB`` or a plain number."""
    from passerelle.errors import UsageError

    raw = text.strip()
    value = raw.removesuffix("/s").replace(" ", "")
    bits = value.lower().endswith(("bit", "bps"))
    if bits:
        value = value[:-3]
    digits = value.rstrip("KMGTBkmgtiI")
    unit = value[len(digits) :].upper()
    try:
        number = float(digits)
    except ValueError:
        number = -1.0
    if number <= 0 or unit not in _UNITS:
        raise UsageError(f"{raw!r} is not a rate; write it like 200MB/s, 1Gbit/s or 50MiB/s.")
    result = number * _UNITS[unit]
    return result / 8 if bits else result
