"""Fetch the portal's front-end assets from the npm registry into the package.

    python3 scripts/vendor_assets.py           # check: re-fetch, compare with what is committed
    python3 scripts/vendor_assets.py --write   # (re)write the files and the manifest

Each package is pinned in ``PACKAGES`` (name, version, the registry's sha512
integrity of its tarball). ``npm pack`` downloads the tarball from the registry;
its sha512 must equal the pinned integrity, then the listed files are copied to
``src/passerelle/portal/static/vendor/<name>/`` and their SHA-256 recorded in
``manifest.json`` there, which a test checks against the files served. The hub
serves these files itself: no page loads anything from a CDN.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "src" / "passerelle" / "portal" / "static" / "vendor"

PACKAGES = {
    "swagger-ui-dist": {
        "version": "5.32.0",
        "integrity": "sha512-nKZB0OuDvacB0s/lC2gbge+RigYvGRGpLLMWMFxaTUwfM+CfndVk9Th2IaTinqXiz6Mn26GK2zriCpv6/+5m3Q==",
        "files": ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE"],
    },
    "uplot": {
        "version": "1.6.32",
        "integrity": "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==",
        "files": ["dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE"],
    },
}


def _fetch(name: str, spec: dict, work: Path) -> dict[str, bytes]:
    subprocess.run(
        ["npm", "pack", f"{name}@{spec['version']}", "--silent", "--pack-destination", str(work)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (tarball,) = work.glob(f"{name}-{spec['version']}.tgz")
    data = tarball.read_bytes()
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if integrity != spec["integrity"]:
        sys.exit(f"{name}@{spec['version']}: the tarball's integrity is {integrity}, not the pinned one")
    out = {}
    with tarfile.open(tarball) as archive:
        for file in spec["files"]:
            member = archive.extractfile(f"package/{file}")
            if member is None:
                sys.exit(f"{name}@{spec['version']} has no {file}")
            out[file] = member.read()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the files and manifest")
    args = parser.parse_args()
    manifest: dict[str, dict] = {}
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in PACKAGES.items():
            files = _fetch(name, spec, Path(tmp))
            entry = {"version": spec["version"], "integrity": spec["integrity"], "files": {}}
            for file, data in files.items():
                entry["files"][file] = hashlib.sha256(data).hexdigest()
                target = VENDOR / name / file
                if args.write:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                elif not target.exists() or target.read_bytes() != data:
                    problems.append(f"{target.relative_to(ROOT)} differs from the registry's")
            manifest[name] = entry
    if args.write:
        (VENDOR / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        print(f"wrote {sum(len(e['files']) for e in manifest.values())} files to {VENDOR}")
        return 0
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
