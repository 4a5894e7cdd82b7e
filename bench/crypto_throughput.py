"""Envelope encrypt/decrypt throughput per core vs plain ``cryptography`` AES-GCM.

On one random buffer (``--mib``, default 256 MiB), single-threaded, in rotating order
after a warm-up, ``--runs`` times each (default 5), medians of CPU time of this thread
(``time.thread_time``: what one core spends, whatever else the machine runs) and wall:

* ``aesgcm-1call``: plain AESGCM, one call over the whole buffer (the issue's baseline);
* ``aesgcm-segments``: plain AESGCM over the same buffer cut in 64 KiB slices (the cipher's
  own cost at the envelope's granularity, no envelope code);
* ``envelope-cipher``: the envelope's segment code without the plaintext digest
  (``SegmentCipher.seal`` / ``open_segments`` over 8 MiB store chunks);
* ``envelope-put``: what ``EncryptingStore.put`` runs (``Sealer``: segments + SHA-256 of the
  plaintext for the trailer);
* ``sha256``: hashlib SHA-256 alone over the buffer (what the digest costs).

``--sweep`` also times the envelope's segment code at other segment sizes (the choice of
v1's 64 KiB) and prints the bytes a Parquet-like read fetches at each.
Run: ``.venv/bin/python bench/crypto_throughput.py [--mib 256] [--runs 5] [--sweep]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from passerelle.sovereignty.envelope import (  # noqa: E402
    SEGMENT_SIZE,
    Header,
    Sealer,
    SegmentCipher,
    binding,
    open_segments,
    segment_span,
)

CHUNK = 8 * 1024 * 1024  # what a store read hands the decrypting side


def _chunks(data: bytes | memoryview, size: int = CHUNK) -> list[memoryview]:
    view = memoryview(data)
    return [view[i : i + size] for i in range(0, len(data), size)]


class Case:
    """One object's key, header and cipher, and the buffer's ciphertexts."""

    def __init__(self, data: bytes, segment: int) -> None:
        self.data, self.segment = data, segment
        self.key = AESGCM.generate_key(256)
        self.aead = AESGCM(self.key)
        self.raw_header = Header(os.urandom(16), segment).to_bytes()
        self.cipher = SegmentCipher(self.key, binding(self.raw_header, "bench/object.parquet"))
        self.whole = self.aead.encrypt(b"\0" * 12, data, None)
        self.sliced = [
            self.aead.encrypt(i.to_bytes(12, "big"), s, None)
            for i, s in enumerate(_chunks(data, segment))
        ]
        self.stored = b"".join(Sealer(self.raw_header, self.cipher, segment).chunks([data]))

    # -- encrypt -------------------------------------------------------------------------
    def enc_1call(self) -> None:
        self.aead.encrypt(b"\0" * 12, self.data, None)

    def enc_segments(self) -> None:
        encrypt = self.aead.encrypt
        for i, piece in enumerate(_chunks(self.data, self.segment)):
            encrypt(i.to_bytes(12, "big"), piece, None)

    def enc_envelope(self) -> None:
        seal, pieces = self.cipher.seal, _chunks(self.data, self.segment)
        last = len(pieces) - 1
        for i, piece in enumerate(pieces):
            seal(i, piece, i == last)

    def enc_put(self) -> None:
        for _ in Sealer(self.raw_header, self.cipher, self.segment).chunks(_chunks(self.data)):
            pass

    # -- decrypt -------------------------------------------------------------------------
    def dec_1call(self) -> None:
        self.aead.decrypt(b"\0" * 12, self.whole, None)

    def dec_segments(self) -> None:
        decrypt = self.aead.decrypt
        for i, piece in enumerate(self.sliced):
            decrypt(i.to_bytes(12, "big"), piece, None)

    def dec_envelope(self) -> None:
        size = len(self.data)
        span = segment_span(0, size, size, self.segment)
        body = _chunks(memoryview(self.stored)[span.stored_start : span.stored_end])
        for _ in open_segments(self.cipher, body, span, size, self.segment):
            pass

    def sha256(self) -> None:
        hashlib.sha256(self.data).digest()


def _time(fn: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    return time.thread_time() - cpu, time.perf_counter() - wall


def measure(cases: dict[str, Callable[[], None]], runs: int) -> dict[str, tuple[float, float]]:
    """Median (cpu, wall) seconds per case, in rotating order after one warm-up of each."""
    names = list(cases)
    for name in names:
        cases[name]()
    samples: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for r in range(runs):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            samples[name].append(_time(cases[name]))
    return {
        n: (statistics.median(c for c, _ in s), statistics.median(w for _, w in s))
        for n, s in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    data = os.urandom(size)
    case = Case(data, SEGMENT_SIZE)
    print(
        f"buffer {args.mib} MiB, segment {SEGMENT_SIZE // 1024} KiB, {args.runs} runs, "
        f"cpu {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    )
    results = {
        "encrypt": measure(
            {
                "aesgcm-1call": case.enc_1call,
                "aesgcm-segments": case.enc_segments,
                "envelope-cipher": case.enc_envelope,
                "envelope-put": case.enc_put,
                "sha256": case.sha256,
            },
            args.runs,
        ),
        "decrypt": measure(
            {
                "aesgcm-1call": case.dec_1call,
                "aesgcm-segments": case.dec_segments,
                "envelope-cipher": case.dec_envelope,
            },
            args.runs,
        ),
    }
    print(
        "| direction | code | CPU s (median) | MB/s per core | vs aesgcm-1call "
        "| vs aesgcm-segments | wall s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for direction, rows in results.items():
        one, seg = rows["aesgcm-1call"][0], rows["aesgcm-segments"][0]
        for name, (cpu, wall) in rows.items():
            print(
                f"| {direction} | {name} | {cpu:.3f} | {size / cpu / 1e6:,.0f} | "
                f"{cpu / one:.2f}x | {cpu / seg:.2f}x | {wall:.3f} |"
            )
    if args.sweep:
        sweep(data, args.runs)


def sweep(data: bytes, runs: int) -> None:
    """Segment-size choice: CPU per byte and the bytes a small Parquet read fetches."""
    print(
        "\n| segment | encrypt MB/s | decrypt MB/s | 8-byte tail read fetches "
        "| 16 KiB footer | 1 MiB column chunk |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    size = len(data)
    for log2 in (14, 16, 18, 20):
        segment = 1 << log2
        case = Case(data, segment)
        rows = measure({"enc": case.enc_envelope, "dec": case.dec_envelope}, runs)

        def fetched(lo: int, hi: int, segment: int = segment) -> str:
            span = segment_span(lo, hi, size, segment)
            return f"{(span.stored_end - span.stored_start) / 1024:,.0f} KiB"

        mid = size // 2 + 12345
        print(
            f"| {segment // 1024} KiB | {size / rows['enc'][0] / 1e6:,.0f} | "
            f"{size / rows['dec'][0] / 1e6:,.0f} | {fetched(size - 8, size)} | "
            f"{fetched(size - 16384 - 8, size - 8)} | {fetched(mid, mid + (1 << 20))} |"
        )


if __name__ == "__main__":
    main()
