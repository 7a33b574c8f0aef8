"""Deployment package size: `pip install --target` of requirements.txt plus reaper/ and bot/, unzipped and zipped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # bytes, function code plus layers
LAMBDA_ZIP_UPLOAD_LIMIT = 50 * 1024 * 1024  # bytes, direct upload


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def measure(say: Any = print) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="reaper-pkg-") as tmp:
        target = Path(tmp) / "package"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
             "--target", str(target), "-r", str(ROOT / "requirements.txt")],
            check=True, capture_output=True,
        )
        for package in ("reaper", "bot"):
            if (ROOT / package).is_dir():
                shutil.copytree(ROOT / package, target / package,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        unzipped = _tree_bytes(target)
        by_top: dict[str, int] = {}
        for entry in target.iterdir():
            size = _tree_bytes(entry) if entry.is_dir() else entry.stat().st_size
            by_top[entry.name] = size
        archive = Path(tmp) / "package.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for path in sorted(target.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(target))
        zipped = os.path.getsize(archive)
    largest = dict(sorted(by_top.items(), key=lambda kv: -kv[1])[:6])
    say(f"package: {unzipped / 1e6:.1f} MB unzipped, {zipped / 1e6:.1f} MB zipped")
    return {
        "unzipped_bytes": unzipped, "zipped_bytes": zipped, "largest": largest,
        "botocore_bytes": by_top.get("botocore", 0),
        "fits_lambda_zip_upload": zipped <= LAMBDA_ZIP_UPLOAD_LIMIT,
        "fits_lambda_unzipped": unzipped <= LAMBDA_UNZIPPED_LIMIT,
    }
