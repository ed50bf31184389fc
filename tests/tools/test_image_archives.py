"""The image cache keeps the newest archives of an image, not one per change forever."""

from __future__ import annotations

import os
from pathlib import Path

from tools.images.build import prune_archives


def archive(directory: Path, name: str, digest: str, mtime: int) -> Path:
    path = directory / f"{name}-{digest}.tar"
    path.write_bytes(b"x")
    os.utime(path, (mtime, mtime))
    return path


def test_only_the_newest_two_of_the_same_image_stay(tmp_path: Path) -> None:
    old = archive(tmp_path, "platform", "0" * 16, 100)
    older = archive(tmp_path, "platform", "1" * 16, 50)
    previous = archive(tmp_path, "platform", "2" * 16, 200)
    other_image = archive(tmp_path, "platform-extra", "3" * 16, 10)  # a name that merely starts alike
    unrelated = archive(tmp_path, "postgres-standin", "4" * 16, 10)
    new = archive(tmp_path, "platform", "5" * 16, 300)
    removed = prune_archives("platform", keep=new)
    assert sorted(removed) == sorted([old, older])
    assert {p.name for p in tmp_path.iterdir()} == {new.name, previous.name, other_image.name, unrelated.name}
