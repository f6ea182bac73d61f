#!/usr/bin/env python3
"""Fetch the browser libraries the pages use from the npm registry and copy them, with their
licences, into the repository: the pages load nothing from another host at run time.

Run it only to add or upgrade a library (edit ``PACKAGES``); the files it writes are committed.
Needs ``npm`` on the PATH (``npm pack`` downloads the published tarball, nothing is installed).

    python scripts/vendor_assets.py            # every package
    python scripts/vendor_assets.py leaflet    # one of them
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "app" / "web" / "static" / "vendor"
TEST_ONLY = ROOT / "tests" / "web" / "vendor"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    files: tuple[str, ...]  # paths inside the package (a trailing "/" copies a folder)
    dest: Path
    licence: str = "LICENSE"

    @property
    def folder(self) -> Path:
        return self.dest / self.name.removesuffix(".org")


PACKAGES = (
    Package("htmx.org", "2.0.4", ("dist/htmx.min.js",), STATIC),
    Package("leaflet", "1.9.4", ("dist/leaflet.js", "dist/leaflet.css", "dist/images/"), STATIC),
    # The API's interactive documentation (/docs, /redoc), served without a CDN.
    Package(
        "swagger-ui-dist",
        "5.17.14",
        ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"),
        STATIC,
    ),
    Package("redoc", "2.1.5", ("bundles/redoc.standalone.js",), STATIC),
    # The accessibility checks of the browser tests only: never served.
    Package("axe-core", "4.10.2", ("axe.min.js",), TEST_ONLY, licence="LICENSE"),
)


def vendor(package: Package, workdir: Path) -> None:
    spec = f"{package.name}@{package.version}"
    print(f"==> {spec}", flush=True)
    tarball = (
        subprocess.run(
            ["npm", "pack", "--silent", spec],
            cwd=workdir,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    unpacked = workdir / package.name
    with tarfile.open(workdir / tarball) as archive:
        archive.extractall(unpacked, filter="data")
    source = unpacked / "package"
    target = package.folder
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in (*package.files, package.licence):
        path = source / name
        if name.endswith("/"):
            shutil.copytree(path, target / path.name)
        else:
            shutil.copy2(path, target / path.name)
    (target / "VERSION").write_text(f"{spec} from https://registry.npmjs.org/\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="packages to fetch (default: all)")
    args = parser.parse_args(argv)
    chosen = [p for p in PACKAGES if not args.names or p.name in args.names]
    if not chosen:
        parser.error(f"unknown package; known: {', '.join(p.name for p in PACKAGES)}")
    with tempfile.TemporaryDirectory() as tmp:
        for package in chosen:
            vendor(package, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
