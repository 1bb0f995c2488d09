"""Image folders' layout: the class names and split folders of a folder of labelled photos, and their image files.

The layouts are those of :mod:`fashion_desktop.core.folders` (which imports them and re-exports the public names):
``ROOT/<class>/...``, or ``ROOT/train/<class>/...`` with optional validation and test folders. Classes are the
subfolder names sorted by code point, as ``torchvision.datasets.ImageFolder`` orders them; images are found
recursively, links followed, loops detected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fashion_desktop.core.errors import DataError
from fashion_desktop.core.imaging import IMAGE_SUFFIXES

MIN_CLASSES = 2
MAX_CLASSES = 100
SPLIT_NAMES: dict[str, tuple[str, ...]] = {  # split -> folder names accepted for it, first one preferred
    "train": ("train", "training"),
    "validation": ("validation", "val", "valid"),
    "test": ("test", "testing"),
}


@dataclass(frozen=True)
class SkippedFile:
    """An image that was left out, with the reason to show the user."""

    path: Path
    reason: str


@dataclass(frozen=True)
class FolderLayout:
    """What :func:`discover_layout` found: the class names and, per split, the folder holding its class folders."""

    root: Path
    class_names: tuple[str, ...]
    split_folders: dict[str, Path]  # "train" always; "validation" and "test" only when the folder has them

    @property
    def nested(self) -> bool:
        """True for the train/validation/test layout, False for class folders directly under the root."""
        return self.split_folders["train"] != self.root


def display_name(path: Path | str) -> str:
    """A path as text that can always be shown: bytes that are not UTF-8 appear as the replacement character."""
    return os.fsencode(path).decode("utf-8", errors="replace")


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.scandir turns undecodable bytes into lone surrogates
        return False
    return True


def _hidden(name: str) -> bool:
    """Folders that file managers and archivers leave behind (.git, .thumbnails, __MACOSX) are never classes."""
    return name.startswith(".") or name.startswith("__")


def _subfolders(folder: Path) -> list[os.DirEntry[str]]:
    """The visible subfolders of ``folder`` (symbolic links to folders included), sorted like ``find_classes``."""
    try:
        with os.scandir(folder) as entries:
            found = []
            for entry in entries:
                if _hidden(entry.name):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:  # a link that loops (ELOOP) or points nowhere readable
                    is_dir = entry.is_symlink()  # kept, so the check on class folders names the looping link
                if is_dir:
                    found.append(entry)
    except FileNotFoundError:
        raise DataError(f"{display_name(folder)} does not exist; choose an existing folder") from None
    except NotADirectoryError:
        raise DataError(
            f"{display_name(folder)} is a file, not a folder; choose the folder that holds one subfolder per class"
        ) from None
    except OSError as error:
        raise DataError(
            f"cannot read the folder {display_name(folder)} ({error.strerror or error}); check its permissions"
        ) from None
    return sorted(found, key=lambda entry: entry.name)


def _split_folder(root: Path, names: dict[str, str], split: str) -> Path | None:
    """The subfolder of ``root`` for ``split``, matching its accepted names case-insensitively, or None."""
    for candidate in SPLIT_NAMES[split]:
        if candidate in names:
            return root / names[candidate]
    return None


def discover_layout(root: str | Path) -> FolderLayout:
    """Find the classes and splits of an image folder (see the module docstring for the two layouts).

    Raises:
        DataError: the folder is missing or unreadable, holds no class subfolders, a single class or more than
            ``MAX_CLASSES``, a class folder with a name that is not UTF-8 or that is a symbolic-link loop, or a
            validation/test folder with a class that ``train/`` lacks. The message names the folder and says
            what to do.
    """
    root = Path(root).expanduser()
    entries = _subfolders(root)
    names = {entry.name.lower(): entry.name for entry in entries}
    train = _split_folder(root, names, "train")
    split_folders: dict[str, Path] = {"train": train if train is not None else root}
    if train is not None:
        for split in ("validation", "test"):
            folder = _split_folder(root, names, split)
            if folder is not None:
                split_folders[split] = folder
    class_names = _class_names(split_folders["train"], root)
    for split, folder in split_folders.items():
        if split == "train":
            continue
        extra = sorted(set(_class_names(folder, root, check_count=False)) - set(class_names))
        if extra:
            raise DataError(
                f"{display_name(folder)} has class folders that {display_name(split_folders['train'])} lacks: "
                f"{', '.join(extra)}; add training images for them, or rename or remove those folders"
            )
    return FolderLayout(root=root, class_names=class_names, split_folders=split_folders)


def _class_names(folder: Path, root: Path, check_count: bool = True) -> tuple[str, ...]:
    entries = _subfolders(folder)
    for entry in entries:
        if not _is_utf8(entry.name):
            raise DataError(
                f"the class folder {display_name(entry.path)} has a name that is not valid UTF-8 text, so it cannot "
                "be shown or stored in the model file; rename it"
            )
        try:
            os.stat(entry.path)
        except OSError as error:
            raise DataError(
                f"the class folder {display_name(entry.path)} cannot be opened ({error.strerror or error}: a "
                "symbolic link that loops or points nowhere); replace the link with a real folder or remove it"
            ) from None
    if not check_count:
        return tuple(entry.name for entry in entries)
    if not entries:
        loose = any(_image_suffix(entry) for entry in _list_files(folder))
        hint = " (its images lie directly in it)" if loose else ""
        raise DataError(
            f"{display_name(folder)} has no class subfolders{hint}; put each class's images in a subfolder named "
            f"after the class, such as {display_name(folder / 'shirt')} and {display_name(folder / 'shoes')}"
        )
    if len(entries) < MIN_CLASSES:
        raise DataError(
            f"{display_name(folder)} holds a single class folder ({entries[0].name}); a classifier needs at least "
            f"{MIN_CLASSES} classes: add a subfolder of images for each other class"
        )
    if len(entries) > MAX_CLASSES:
        raise DataError(
            f"{display_name(folder)} holds {len(entries)} class folders, more than the {MAX_CLASSES} supported; "
            "choose the folder whose subfolders are the classes, or merge classes"
        )
    return tuple(entry.name for entry in entries)


def _list_files(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return [entry for entry in entries if entry.is_file()]
    except OSError:
        return []


def _image_suffix(entry: os.DirEntry[str]) -> bool:
    return os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES


def _walk_images(folder: Path, skipped: list[SkippedFile]) -> Iterator[Path]:
    """Image files under ``folder`` at any depth, following links to folders but never the same folder twice."""
    seen: set[tuple[int, int]] = set()
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            info = os.stat(current)
        except OSError as error:
            skipped.append(SkippedFile(current, f"cannot be opened ({error.strerror or error})"))
            continue
        if (info.st_dev, info.st_ino) in seen:
            skipped.append(SkippedFile(current, "is a link back to a folder already read (a symbolic-link loop)"))
            continue
        seen.add((info.st_dev, info.st_ino))
        try:
            with os.scandir(current) as entries:
                children = sorted(entries, key=lambda entry: entry.name)
        except OSError as error:
            skipped.append(SkippedFile(current, f"cannot be read ({error.strerror or error})"))
            continue
        for entry in children:
            if _hidden(entry.name):
                continue
            try:
                if entry.is_dir():
                    pending.append(Path(entry.path))
                elif entry.is_file() and _image_suffix(entry):
                    yield Path(entry.path)
            except OSError as error:  # a looping link to a file or folder
                skipped.append(SkippedFile(Path(entry.path), f"cannot be opened ({error.strerror or error})"))


def image_files(layout: FolderLayout, skipped: list[SkippedFile]) -> dict[str, list[list[Path]]]:
    """Split -> class index -> the class folder's image files, sorted; an empty training class is refused."""
    files: dict[str, list[list[Path]]] = {}
    for split, folder in layout.split_folders.items():
        files[split] = []
        for class_name in layout.class_names:
            class_folder = folder / class_name
            found = list(_walk_images(class_folder, skipped)) if class_folder.exists() else []
            if split == "train" and not found:
                raise DataError(
                    f"the class folder {display_name(class_folder)} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                    "add images to it or remove the folder"
                )
            files[split].append(sorted(found))
    return files
