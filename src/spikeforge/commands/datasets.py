"""``spikeforge datasets list | info NAME | download NAME | verify NAME``.

``list`` shows every registered dataset and where it was found; ``info`` its classes, location
and size; ``download`` fetches the official files (resuming, verified) into ``--data-dir`` or the
cache folder; ``verify`` checks the files' content and exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from spikeforge.commands._args import non_empty
from spikeforge.datasets import dataset_names
from spikeforge.datasets.base import Found, data_path, dataset_info
from spikeforge.datasets.locate import ENV_VAR, cache_root, dataset_cache_dir
from spikeforge.errors import ConfigError, DataError

__all__ = ["add_parser", "run"]


class _NameAction(argparse.Action):
    """Store NAME; a usage error (exit 2) when it is given to ``list``, which takes none."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if values is not None and getattr(namespace, "action", None) == "list":
            parser.error(f"datasets list takes no NAME, got {values!r}")
        setattr(namespace, self.dest, values)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``datasets`` sub-command and its actions."""
    p = subparsers.add_parser(
        "datasets",
        help="list, inspect, download and verify datasets",
        description=(
            "Datasets are looked for in --data-dir if given, else in the cache folder "
            f"(${ENV_VAR}, default ~/.cache/spikeforge) then in known system folders."
        ),
    )
    p.add_argument("action", choices=("list", "info", "download", "verify"))
    p.add_argument("name", nargs="?", action=_NameAction, help="dataset name (not for list)")
    p.add_argument(
        "--data-dir",
        type=non_empty(
            "--data-dir", "the folder holding (or to receive) the files, or omit --data-dir"
        ),
        default=None,
        help="folder holding (or, for download, to receive: created if needed) the files",
    )
    p.add_argument("--no-progress", action="store_true", help="no download progress bar")
    p.set_defaults(run=run)


def _human(size: int) -> str:
    """``size`` bytes as a short human-readable string (``"11.1 MB"``)."""
    value, unit = float(size), "B"
    for bigger in ("kB", "MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


def _where(found: Found | None) -> str:
    """One phrase: where the data was found, or that it was not."""
    if found is None:
        return "not found"
    size = f", {_human(found.size)}" if found.files else ""
    return f"{found.origin}: {found.path}{size}"


def _list(data_dir: Path | None) -> int:
    rows = [("name", "classes", "download", "where")]
    for name in dataset_names():
        info = dataset_info(name)
        rows.append((name, str(len(info.class_names)), "yes" if info.downloadable else "no",
                     _where(info.locate(data_dir))))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3])
    print(f"cache folder: {cache_root()}")
    return 0


def _info(name: str, data_dir: Path | None) -> Found | None:
    info = dataset_info(name)
    found = info.locate(data_dir)
    print(f"{name}: {info.description}")
    print(f"  classes ({len(info.class_names)}): {', '.join(info.class_names)}")
    print(f"  where: {_where(found)}")
    if found is not None:
        for f in found.files:
            print(f"    {f.name}  {_human(f.stat().st_size)}")
    return found


def _verify(name: str, data_dir: Path | None) -> int:
    found = _info(name, data_dir)
    if found is None:
        raise DataError(
            f"dataset {name!r} not found; run `spikeforge datasets download {name}` or "
            "pass --data-dir DIR holding its files"
        )
    checks = dataset_info(name).verify(found)
    for c in checks:
        print(f"  {'ok  ' if c.ok else 'FAIL'}  {c.item}: {c.detail}")
    bad = sum(not c.ok for c in checks)
    print(f"{name}: {'verified' if not bad else f'{bad} check(s) failed'}")
    return 1 if bad else 0


def _download(name: str, data_dir: str | None, progress: bool) -> int:
    from spikeforge.checkpoint import output_folder
    from spikeforge.datasets.download import check_download, download_dataset

    dataset_info(name)  # unknown names are a ConfigError
    check_download(name)  # no download or a bad mirror: refused before any folder is made
    target = dataset_cache_dir(name) if data_dir is None else Path(data_dir).expanduser()
    made = [p for p in (target, *target.parents) if not p.exists()]  # deepest first
    # the folder "to receive" the files: made with its parents if it does not exist
    dest = output_folder(target, "--data-dir")
    try:
        paths = download_dataset(name, dest, progress=progress)
    except BaseException:
        for folder in made:  # a failed download leaves no empty folder it made behind
            try:
                folder.rmdir()  # only if empty: a partial download (.part) stays to resume
            except OSError:
                break
        raise
    for path in paths:
        print(f"{path}  verified")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; return the exit code (verify: 1 when a check fails)."""
    if args.action != "list" and args.name is None:
        raise ConfigError(f"`spikeforge datasets {args.action}` needs a dataset name; "
                        f"accepted: {', '.join(dataset_names())}")
    if args.action == "download":
        # no progress bar when stderr is not a terminal (a log would get its frames)
        progress = not args.no_progress and sys.stderr.isatty()
        return _download(args.name, args.data_dir, progress=progress)
    data_dir = data_path(args.data_dir)  # list, info, verify: an existing folder
    if args.action == "list":
        return _list(data_dir)
    if args.action == "info":
        _info(args.name, data_dir)
        return 0
    return _verify(args.name, data_dir)
