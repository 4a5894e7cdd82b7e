"""W2 migration of an encrypted store vs the same store in plaintext (Azurite -> Ceph RGW).

W2 of ``bench/migrate_vs_rclone.py`` (four 256 MiB objects; ``--scale`` shrinks them)
is written twice on Azurite: in plaintext, and through an ``EncryptingStore`` (a
key-file KEK; 64 KiB AES-256-GCM segments, so 16 bytes more per 64 KiB).  The engine
copies stored bytes whatever they are, so the encrypted store should cost what its
extra bytes cost: ``passerelle migrate plan`` + ``migrate run --concurrency 16`` (two
processes, SHA-256 and MD5 of every stored byte, as in W2) into a fresh Ceph bucket,
plaintext and encrypted in rotating order, ``--runs`` each; then ``migrate verify
--deep`` of each copy, and ``--deep --decrypt`` (every envelope decrypted, its
plaintext SHA-256 checked) of the encrypted one.  Medians; wall and client CPU seconds.

Uses the servers of the environment (``source /tmp/pserv/all.env``, or ``bash
bench/run.sh encrypted-migration``, which starts its own).  Each destination is emptied
after its run (memstore Ceph keeps every byte in RAM).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from migrate_vs_rclone import (  # noqa: E402
    CPU_SECONDS,
    MiB,
    empty_bucket,
    server_cpu,
    timed,
    write_config,
)

EXE = str(ROOT / ".venv" / "bin" / "passerelle")


def populate(url: str, objects: int, size: int, custody: object | None) -> int:
    """``objects`` objects of ``size`` bytes (the same plaintext for both stores)."""
    from passerelle.storage import open_store
    from passerelle.storage.encrypting import EncryptingStore

    store = open_store(url)
    store.create_container()
    writer = EncryptingStore(store, custody) if custody is not None else store  # type: ignore[arg-type]
    chunk = os.urandom(MiB)
    for i in range(objects):
        writer.put(f"large/{i:03d}.bin", (chunk for _ in range(size // MiB)), size=size)
    return sum(o.size for o in store.list())


def migrate(src: str, dst: str, tmp: Path, env: dict[str, str]) -> tuple[float, float, Path]:
    journal = tmp / f"j-{uuid.uuid4().hex[:8]}.db"
    CPU_SECONDS.clear()
    t1, _ = timed([EXE, "migrate", "plan", src, dst, "-j", str(journal)], env)
    t2, _ = timed([EXE, "migrate", "run", "-j", str(journal), "--concurrency", "16"], env)
    return t1 + t2, sum(CPU_SECONDS), journal


def verify(journal: Path, env: dict[str, str], *extra: str) -> tuple[float, float]:
    CPU_SECONDS.clear()
    seconds, _ = timed([EXE, "migrate", "verify", "-j", str(journal), "--deep", *extra], env)
    return seconds, sum(CPU_SECONDS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="object size x scale")
    parser.add_argument("--objects", type=int, default=4)
    args = parser.parse_args()
    from passerelle.keys.file_custody import FileCustody

    tmp = Path(tempfile.mkdtemp(prefix="passerelle-encmig-"))
    env = dict(os.environ)
    config = tmp / "config.toml"
    write_config(env, config)
    env["PASSERELLE_CONFIG"] = os.environ["PASSERELLE_CONFIG"] = str(config)
    kek = tmp / "kek.json"
    custody = FileCustody(kek)
    custody.create_key()
    size = int(256 * MiB * args.scale) // MiB * MiB
    tag = uuid.uuid4().hex[:6]
    sources = {
        "plain": f"az://azurite@encmig-plain-{tag}",
        "encrypted": f"az://azurite@encmig-enc-{tag}",
    }
    stored = {}
    for name, url in sources.items():
        started = time.perf_counter()
        stored[name] = populate(url, args.objects, size, custody if name == "encrypted" else None)
        print(
            f"{name}: {args.objects} x {size / MiB:.0f} MiB plaintext, {stored[name]:,} bytes "
            f"stored, written in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    runs: dict[str, list[tuple[float, float]]] = {n: [] for n in sources}
    checks: dict[str, list[tuple[float, float]]] = {"plain": [], "encrypted": [], "decrypt": []}
    servers: dict[str, list[float]] = {n: [] for n in sources}
    names = list(sources)
    for i in range(args.runs):
        for name in names[i % 2 :] + names[: i % 2]:
            dst = f"s3://ceph@encmig-{name[:5]}-{uuid.uuid4().hex[:8]}"
            before = server_cpu()
            secs, cpu, journal = migrate(sources[name], dst, tmp, env)
            after = server_cpu()
            runs[name].append((secs, cpu))
            servers[name].append(sum(after[k] - before.get(k, 0.0) for k in after))
            checks[name].append(verify(journal, env))
            if name == "encrypted":
                checks["decrypt"].append(verify(journal, env, "--decrypt", "--kek-file", str(kek)))
            print(
                f"  run {i + 1} {name:<9} migrate {secs:6.2f} s ({cpu:5.1f} CPU s, servers "
                f"{servers[name][-1]:5.1f}); verify --deep {checks[name][-1][0]:5.2f} s"
                + (
                    f"; --deep --decrypt {checks['decrypt'][-1][0]:5.2f} s"
                    if name == "encrypted"
                    else ""
                ),
                flush=True,
            )
            empty_bucket(dst)
    med = {n: statistics.median(s for s, _ in r) for n, r in runs.items()}
    cpu = {n: statistics.median(c for _, c in r) for n, r in runs.items()}
    ver = {n: statistics.median(s for s, _ in r) for n, r in checks.items()}
    ver_cpu = {n: statistics.median(c for _, c in r) for n, r in checks.items()}
    plain_bytes = args.objects * size
    print(f"\n{args.runs} runs each, rotating order, medians (scale {args.scale:g}):")
    print("| store | stored bytes | migrate wall s (client CPU s) | MB/s (plaintext) | vs plain |")
    print("|---|---|---|---|---|")
    for n in names:
        wall_pct = 100 * (med[n] - med["plain"]) / med["plain"]
        cpu_pct = 100 * (cpu[n] - cpu["plain"]) / cpu["plain"]
        print(
            f"| {n} | {stored[n]:,} | {med[n]:.2f} ({cpu[n]:.1f}) | "
            f"{plain_bytes / med[n] / 1e6:.1f} | {wall_pct:+.1f}% (CPU {cpu_pct:+.1f}%) |"
        )
    print(
        f"verify --deep: plain {ver['plain']:.2f} s ({ver_cpu['plain']:.1f} CPU s), encrypted "
        f"{ver['encrypted']:.2f} s ({ver_cpu['encrypted']:.1f} CPU s); --deep --decrypt of the "
        f"encrypted copy {ver['decrypt']:.2f} s ({ver_cpu['decrypt']:.1f} CPU s)"
    )
    for url in sources.values():
        empty_bucket(url)
    print(f"load average at the end: {os.getloadavg()}")
    os._exit(0)  # obstore's runtime may abort at interpreter exit


if __name__ == "__main__":
    main()
