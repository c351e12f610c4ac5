"""Where the nested tier's L1 images are: lookup only (building is the ``images`` package).

A variant is a folder ``<cache>/images/<variant>/`` holding ``Image`` (the kernel),
``initrd`` and ``manifest.json``; it counts only when all three exist
(``python -m images build VARIANT`` writes them last to first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artefacts import ArtefactError
from artefacts.provision import cache_root

VARIANTS = ("stock", "iommufd")


def images_root() -> Path:
    """Where everything the image builders download or build is cached."""
    return cache_root() / "images"


@dataclass(frozen=True)
class BuiltImage:
    """A complete variant on disk."""

    variant: str
    dir: Path

    @property
    def kernel(self) -> Path:
        return self.dir / "Image"

    @property
    def initrd(self) -> Path:
        return self.dir / "initrd"

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.manifest_path.read_text())
        return data

    def is_complete(self) -> bool:
        return (self.kernel.exists() and self.initrd.exists()
                and self.manifest_path.exists())

    @property
    def capabilities(self) -> tuple[str, ...]:
        """What this L1 offers the scenarios' ``requires`` (``vfio`` always)."""
        return ("vfio", "iommufd", "vfio-iommufd") if self.variant == "iommufd" else ("vfio",)


def image_dir(variant: str) -> Path:
    return images_root() / variant


def find(variant: str) -> BuiltImage | None:
    """The built variant, or ``None`` if it has not been built (completely)."""
    if variant not in VARIANTS:
        raise ArtefactError(f"unknown image variant '{variant}' (choose from "
                            f"{', '.join(VARIANTS)})")
    img = BuiltImage(variant, image_dir(variant))
    return img if img.is_complete() else None


__all__ = ["VARIANTS", "BuiltImage", "L2Guest", "find", "guest_dir", "image_dir", "images_root",
           "l2guest_find"]


@dataclass(frozen=True)
class L2Guest:
    """The Linux L2 guest's kernel, initrd and firmware on disk."""

    dir: Path

    @property
    def kernel(self) -> Path:
        return self.dir / "Image.gz"

    @property
    def initrd(self) -> Path:
        return self.dir / "initrd"

    @property
    def firmware(self) -> Path:
        return self.dir / "QEMU_EFI.fd"

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def files(self) -> tuple[Path, ...]:
        return (self.kernel, self.initrd, self.firmware)

    def is_complete(self) -> bool:
        return all(p.exists() for p in (*self.files(), self.manifest_path))

    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.manifest_path.read_text())
        return data


def guest_dir() -> Path:
    """Where the Linux L2 guest is built."""
    return images_root() / "l2guest"


def l2guest_find() -> L2Guest | None:
    """The Linux L2 guest (images/l2guest.py builds it), when complete."""
    g = L2Guest(guest_dir())
    return g if g.is_complete() else None
