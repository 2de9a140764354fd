"""A training run on disk: run folder, checkpoints every epoch, resume, metrics and figures.

Run folder layout (``runs/<timestamp>`` by default)::

    config.json     resolved TrainConfig (written with the first last.pt)
    last.pt         complete state after the last finished epoch (resume from here)
    best.pt         model with the best validation accuracy so far
    history.json    per-epoch loss/accuracy/learning rate/time
    metrics.json    test metrics of best.pt (see :func:`metrics_record`)
    confusion.png  training_curves.png  layer_traces.png
    .spikeforge.lock  locked while a process writes the run (see spikeforge.runfolder)

Checkpoints are written atomically after every epoch, so an interrupted run loses at most
the epoch in progress, and ``resume`` continues bit-for-bit as if never stopped: the model,
optimiser, schedule, and every random generator state are restored.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from spikeforge.checkpoint import atomic_write_bytes, load_checkpoint, save_checkpoint
from spikeforge.coding import Encoding, encode_input
from spikeforge.config import TrainConfig, refuse_embedded_data_dir
from spikeforge.datasets import ImageDataset, load_dataset
from spikeforge.errors import CheckpointError, ConfigError, DataError
from spikeforge.metrics import classification_metrics
from spikeforge.network import Sequential
from spikeforge.runfolder import COMPARE_OUTPUTS, TRAIN_OUTPUTS, claimed_folder, refuse_outputs
from spikeforge.train import (
    EvalResult,
    evaluate,
    make_model,
    make_splits,
    optimizer_for,
    train_epoch,
)

__all__ = [
    "RunResult",
    "evaluate_checkpoint",
    "metrics_record",
    "run_training",
    "write_json",
]

Reporter = Callable[[str], None]

#: What a ``last.pt`` holds besides the model, and ``--resume`` needs (a ``best.pt`` has none
#: of the optimiser, schedule or generator states).
RESUME_KEYS = (
    "config",
    "model",
    "optimizer",
    "scheduler",
    "epoch",
    "rng",
    "history",
    "best_val_accuracy",
)


def write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    text = json.dumps(obj, indent=2) + "\n"
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


def metrics_record(result: EvalResult, class_names: tuple[str, ...]) -> dict[str, Any]:
    """The ``metrics.json`` content: classification metrics plus spike statistics."""
    m = classification_metrics(result.y_true, result.y_pred, class_names)
    m.update(
        num_samples=len(result.y_true),
        loss=result.loss,
        output_spikes_per_sample=result.output_spikes_per_sample,
        spikes_per_sample=result.spikes_per_sample,
        layer_firing_rates=result.layer_firing_rates,
    )
    return m


@dataclass(frozen=True)
class RunResult:
    """Where a run wrote its files and its test metrics."""

    run_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, float]]


def _available_memory() -> int:
    """Bytes of memory available to this process now (MemAvailable, else physical memory)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(
    model: Sequential,
    config: TrainConfig,
    input_shape: tuple[int, ...],
    n_train: int,
    n_eval: int,
) -> None:
    """Refuse a run whose activations would not fit in memory, before allocating them.

    Backprop through time keeps a few tensors per neuron per step: the estimate is
    ``num_steps * batch * neurons * 4 bytes * 4`` for training (the batch capped at the
    training-set size) and ``* 2`` with the evaluation batch (at least 256, capped at the
    test-set size).
    """
    with torch.no_grad():
        _, traces = model.trace(torch.zeros(1, *input_shape), num_steps=1)
    neurons = sum(tr.trace.output[0, 0].numel() for tr in traces)
    itemsize = 4
    train_batch = min(config.batch_size, n_train)
    eval_batch = min(max(config.batch_size, 256), n_eval)
    train_bytes = config.num_steps * train_batch * neurons * itemsize * 4
    eval_bytes = config.num_steps * eval_batch * neurons * itemsize * 2
    need = max(train_bytes, eval_bytes)
    have = _available_memory()
    if need > 0.8 * have:
        raise ConfigError(
            f"--num-steps {config.num_steps} with --batch-size {config.batch_size} needs about "
            f"{need / 2**30:.1f} GiB of memory for {neurons:,} neurons but {have / 2**30:.1f} "
            "GiB is available; lower --num-steps, --batch-size or the layer sizes"
        )


def _default_run_dir() -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / stamp
    n = 1
    while path.exists():
        n += 1
        path = Path("runs") / f"{stamp}-{n}"
    return path


def _load_data(config: TrainConfig, data_dir: str | None = None) -> ImageDataset:
    """The run's dataset, from ``data_dir`` if given, else from its saved ``data_dir``."""
    if data_dir is None and config.data_dir is not None and not Path(config.data_dir).is_dir():
        raise DataError(
            f"the run's data folder {config.data_dir!r} (saved in its config) does not exist "
            "or is not a directory; pass --data-dir with the folder that holds the "
            f"{config.dataset} files now"
        )
    return load_dataset(config.dataset, data_dir if data_dir is not None else config.data_dir)


def _figures(
    run_dir: Path,
    model: Sequential,
    data: ImageDataset,
    x: torch.Tensor,
    config: TrainConfig,
    metrics: dict[str, Any],
    history: list[dict[str, float]] | None,
) -> None:
    from spikeforge import plot

    plot.plot_confusion(
        metrics["confusion_matrix"],
        data.class_names,
        run_dir / "confusion.png",
        title=f"{config.dataset}: test accuracy {100 * metrics['accuracy']:.2f} %",
    )
    if history:
        plot.plot_training_curves(history, run_dir / "training_curves.png")
    model.eval()
    with torch.no_grad():
        sample = x[:1]
        if config.encoding is Encoding.DIRECT:
            _, traces = model.trace(sample, num_steps=config.num_steps)
        else:
            g = torch.Generator().manual_seed(config.seed + 2)
            x_seq = encode_input(config.encoding, sample, config.num_steps, g)
            _, traces = model.trace(x_seq)
    layers = []
    for tr in traces:
        layer = model[tr.index]
        spikes = tr.trace.output[:, 0].flatten(1) if layer.spiking else None
        thr = float(layer.threshold.detach().mean()) if layer.spiking else None
        layers.append((tr.name, spikes, tr.trace.membrane[:, 0].flatten(1), thr))
    plot.plot_layer_traces(
        layers, run_dir / "layer_traces.png", title="One test sample through each neuron layer"
    )


def _rng_state(shuffle: torch.Generator, enc: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "shuffle": shuffle.get_state(),
        "encode": enc.get_state(),
        "torch": torch.get_rng_state(),
    }


def _resume_folder(path: str | Path | None) -> Path:
    """The run folder ``--resume`` names (a path to its ``last.pt`` means its folder)."""
    if path is None:
        raise ConfigError("--resume needs the run folder to continue, e.g. runs/20261203-120000")
    p = Path(path)
    if not p.exists():
        raise CheckpointError(
            f"--resume {str(p)!r} does not exist; give the folder of a run written by "
            "'spikeforge train'"
        )
    if p.is_file():
        if p.name == "last.pt":
            return p.parent
        raise CheckpointError(
            f"--resume {str(p)!r} is a file; give the run folder that holds last.pt, "
            f"e.g. {str(p.parent)!r}"
        )
    if not (p / "last.pt").is_file():
        raise CheckpointError(
            f"--resume: {str(p)!r} has no last.pt; give a run folder written by "
            "'spikeforge train'"
        )
    return p


def _load_resumable(run_dir: Path, data_dir: str | None) -> tuple[TrainConfig, dict[str, Any]]:
    """The saved config (with ``data_dir`` if given) and checkpoint of the run in ``run_dir``."""
    ckpt = load_checkpoint(run_dir / "last.pt")
    missing = [k for k in RESUME_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(
            f"--resume: {str(run_dir / 'last.pt')!r} is not a resumable last.pt (it has no "
            f"{', '.join(missing)}; a best.pt holds only the model); give a run folder "
            "written by 'spikeforge train'"
        )
    if not (run_dir / "best.pt").is_file():
        raise CheckpointError(
            f"--resume: {str(run_dir)!r} has last.pt but no best.pt (the best model so far, "
            "written with the first epoch); put best.pt back, or evaluate the last model with "
            f"'spikeforge eval {run_dir / 'last.pt'}'"
        )
    config = TrainConfig.from_dict(ckpt["config"])
    if data_dir is not None:
        refuse_embedded_data_dir(config.dataset, data_dir)
        config = dataclasses.replace(config, data_dir=data_dir)
    return config, ckpt


def run_training(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    *,
    resume: bool = False,
    data_dir: str | None = None,
    report: Reporter | None = None,
    progress: bool = True,
) -> RunResult:
    """Train ``config`` into a run folder, or resume the run in ``out_dir``.

    The folder is locked for the whole run (:func:`spikeforge.runfolder.claimed_folder`): a
    second process on it fails at once. A new run refuses a folder that holds any file it
    would write, and removes what it wrote if it fails before finishing an epoch.

    Args:
        out_dir: run folder; default ``runs/<UTC timestamp>``. Must not hold a previous run
            (or other files a run writes) unless ``resume``.
        resume: continue the run in ``out_dir`` (or ``out_dir`` = its ``last.pt``) from its
            ``last.pt`` (its saved config is used; ``config`` is ignored).
        data_dir: where the dataset lives, instead of ``config.data_dir`` (with ``resume``:
            instead of the saved one; the data is verified by checksum when loaded).
        report: receives one line per epoch and summaries (default: print).
        progress: show a live progress bar (only when stderr is a terminal).
    """
    say = report or print
    if resume:
        run_dir = _resume_folder(out_dir)
    else:
        run_dir = Path(out_dir) if out_dir is not None else _default_run_dir()
    check = None if resume else _refuse_used_folder
    with claimed_folder(run_dir, "--resume" if resume else "--out", check=check):
        if resume:
            config, ckpt = _load_resumable(run_dir, data_dir)
        else:
            if data_dir is not None:
                config = dataclasses.replace(config, data_dir=data_dir)
            ckpt = None
        try:
            given_dir = data_dir if resume else config.data_dir
            return _train(config, given_dir, run_dir, ckpt, say, progress)
        except BaseException:
            if ckpt is None and not (run_dir / "last.pt").exists():
                (run_dir / "best.pt").unlink(missing_ok=True)  # this run's, no epoch finished
            raise


def _refuse_used_folder(run_dir: Path) -> None:
    if (run_dir / "last.pt").exists():
        raise ConfigError(
            f"--out {str(run_dir)!r} already holds a run; pass --resume {run_dir} to "
            "continue it or choose another folder"
        )
    refuse_outputs(
        TRAIN_OUTPUTS + COMPARE_OUTPUTS,
        "a new run would overwrite them; choose another folder or move them away",
    )(run_dir)


def _interrupted(run_dir: Path, saved_epoch: int, during: str) -> str:
    """What to tell the user after Ctrl-C ``during`` an epoch or the final evaluation."""
    if saved_epoch < 1:
        return (
            f"interrupted during {during}: no epoch finished, so there is nothing to resume; "
            "run the same command again"
        )
    return (
        f"interrupted during {during}: epoch {saved_epoch} is saved in "
        f"{run_dir / 'last.pt'}; continue with 'spikeforge train --resume {run_dir}'"
    )


def _train(
    config: TrainConfig,
    data_dir: str | None,
    run_dir: Path,
    ckpt: dict[str, Any] | None,
    say: Reporter,
    progress: bool,
) -> RunResult:
    """The body of :func:`run_training`, in the claimed ``run_dir`` (``data_dir``: the one
    given now, if any)."""
    data = _load_data(config, data_dir)
    splits = make_splits(data, config)
    model = make_model(config, data.input_shape, data.num_classes)
    check_memory(model, config, data.input_shape, len(splits.train), len(splits.test))
    optimizer, scheduler = optimizer_for(model, config)
    shuffle = torch.Generator().manual_seed(config.seed + 101)
    enc = torch.Generator().manual_seed(config.seed + 202)
    history: list[dict[str, float]] = []
    best_val = -1.0
    start_epoch = 1
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        shuffle.set_state(ckpt["rng"]["shuffle"])
        enc.set_state(ckpt["rng"]["encode"])
        history = list(ckpt["history"])
        best_val = float(ckpt["best_val_accuracy"])
        start_epoch = int(ckpt["epoch"]) + 1
        say(f"resuming {run_dir} after epoch {ckpt['epoch']} of {config.epochs}")
        write_json(run_dir / "config.json", config.to_dict())
    say(
        f"dataset {config.dataset} ({data.source}): train {len(splits.train)}, "
        f"validation {len(splits.val)}, test {len(splits.test)}; model {config.arch.value}, "
        f"T={config.num_steps}, {sum(p.numel() for p in model.parameters()):,} parameters; "
        f"run folder {run_dir}"
    )
    common = {
        "config": config.to_dict(),
        "class_names": list(data.class_names),
        "input_shape": list(data.input_shape),
    }
    saved_epoch = start_epoch - 1
    with torch.random.fork_rng(devices=[]):
        if ckpt is not None:
            torch.set_rng_state(ckpt["rng"]["torch"])
        else:
            torch.manual_seed(config.seed + 303)
        for epoch in range(start_epoch, config.epochs + 1):
            t0 = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            try:
                train_stats = _train_with_progress(
                    model, splits, config, optimizer, shuffle, enc, epoch, progress
                )
                scheduler.step()
                val = evaluate(model, splits.val, config)
            except KeyboardInterrupt:
                say(_interrupted(run_dir, saved_epoch, f"epoch {epoch}"))
                raise
            seconds = time.perf_counter() - t0
            row = {
                "epoch": epoch,
                "train_loss": train_stats["loss"],
                "train_accuracy": train_stats["accuracy"],
                "val_loss": val.loss,
                "val_accuracy": val.accuracy,
                "lr": lr,
                "seconds": seconds,
            }
            history.append(row)
            improved = val.accuracy > best_val
            if improved:
                best_val = val.accuracy
            try:
                if improved:
                    save_checkpoint(
                        run_dir / "best.pt",
                        {**common, "model": model.state_dict(), "epoch": epoch,
                         "val_accuracy": best_val},
                    )  # fmt: skip
                save_checkpoint(
                    run_dir / "last.pt",
                    {
                        **common,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "epoch": epoch,
                        "rng": _rng_state(shuffle, enc),
                        "history": history,
                        "best_val_accuracy": best_val,
                    },
                )
                # config.json only beside a last.pt: a run killed in its first epoch leaves
                # nothing (but the lock file), so the same command can simply be run again
                write_json(run_dir / "config.json", common["config"])
                write_json(run_dir / "history.json", history)
            except KeyboardInterrupt:
                saved = epoch if _saved_epoch(run_dir) == epoch else saved_epoch
                say(_interrupted(run_dir, saved, f"the save of epoch {epoch}"))
                raise
            except CheckpointError as exc:
                if saved_epoch < 1:
                    raise
                raise CheckpointError(
                    f"{exc}; epoch {saved_epoch} is saved: continue with "
                    f"'spikeforge train --resume {run_dir}'"
                ) from None
            saved_epoch = epoch
            say(
                f"epoch {epoch:3d}/{config.epochs}  loss {row['train_loss']:.4f}  "
                f"train {100 * row['train_accuracy']:6.2f} %  val {100 * val.accuracy:6.2f} %  "
                f"lr {lr:.2e}  {seconds:5.1f} s{'  *best' if improved else ''}"
            )
    try:
        metrics = _evaluate_into(run_dir / "best.pt", run_dir, say, history=history, data=data)
    except KeyboardInterrupt:
        say(_interrupted(run_dir, saved_epoch, "the final evaluation"))
        raise
    return RunResult(run_dir, metrics, history)


def _saved_epoch(run_dir: Path) -> int:
    try:
        return int(load_checkpoint(run_dir / "last.pt")["epoch"])
    except (CheckpointError, KeyError, TypeError, ValueError):
        return 0


def _train_with_progress(
    model: Sequential,
    splits: Any,
    config: TrainConfig,
    optimizer: Any,
    shuffle: torch.Generator,
    enc: torch.Generator,
    epoch: int,
    progress: bool,
) -> dict[str, float]:
    if not (progress and sys.stderr.isatty()):  # no bar (and no blank lines) in a log file
        return train_epoch(
            model, splits.train, config, optimizer, shuffle=shuffle, encode=enc, epoch=epoch
        )
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.4f} acc {task.fields[acc]:.1%}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(
            "train", total=len(splits.train), epoch=f"{epoch}/{config.epochs}", loss=0.0, acc=0.0
        )

        def on_batch(done: int, loss: float, acc: float) -> None:
            bar.update(task, completed=done, loss=loss, acc=acc)

        return train_epoch(
            model,
            splits.train,
            config,
            optimizer,
            shuffle=shuffle,
            encode=enc,
            epoch=epoch,
            on_batch=on_batch,
        )


def evaluate_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    data_dir: str | None = None,
    report: Reporter | None = None,
) -> dict[str, Any]:
    """Rebuild the model of ``checkpoint``, evaluate it on its run's test split, write
    ``metrics.json`` and figures to ``out_dir``, print the table, and return the metrics.

    ``out_dir`` is locked while it is written, and must not hold a training run or a
    comparison (their metrics.json and figures would be replaced)."""
    ckpt = load_checkpoint(checkpoint)
    refuse_runs = refuse_outputs(
        ("config.json", "last.pt", "best.pt", "history.json", *COMPARE_OUTPUTS),
        "evaluating into it would replace its metrics.json or figures; give another --out",
    )

    def check(folder: Path) -> None:
        refuse_runs(folder)
        _refuse_other_evaluation(folder, Path(checkpoint))

    with claimed_folder(out_dir, check=check) as out:
        return _evaluate_into(Path(checkpoint), out, report or print, data_dir=data_dir, ckpt=ckpt)


def _refuse_other_evaluation(folder: Path, checkpoint: Path) -> None:
    """An eval folder may be rewritten by the same checkpoint's evaluation (the result is
    reproducible), never by another checkpoint's: that would lose the first results."""
    path = folder / "metrics.json"
    if not path.is_file():
        return
    try:
        earlier = json.loads(path.read_text()).get("checkpoint")
    except (OSError, ValueError, AttributeError):
        earlier = None
    if earlier is None or Path(earlier).resolve() != checkpoint.resolve():
        what = f"the evaluation of {earlier!r}" if earlier else "a metrics.json of its own"
        raise ConfigError(
            f"--out {str(folder)!r} already holds {what}; evaluating {str(checkpoint)!r} "
            "into it would replace it; give another --out"
        )


def _evaluate_into(
    checkpoint: Path,
    out: Path,
    say: Reporter,
    *,
    data_dir: str | None = None,
    history: list[dict[str, float]] | None = None,
    data: ImageDataset | None = None,
    ckpt: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`evaluate_checkpoint` into the already claimed folder ``out``."""
    if ckpt is None:
        ckpt = load_checkpoint(checkpoint)
    try:
        config = TrainConfig.from_dict(ckpt["config"])
        state = ckpt["model"]
    except (KeyError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {str(checkpoint)!r} lacks {exc}; it was not written by 'spikeforge train'"
        ) from None
    if data is None:
        data = _load_data(config, data_dir)
    splits = make_splits(data, config)
    model = make_model(config, data.input_shape, data.num_classes)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint {str(checkpoint)!r} does not match its config "
            f"({str(exc).splitlines()[0][:120]})"
        ) from None
    result = evaluate(model, splits.test, config)
    metrics = metrics_record(result, data.class_names)
    metrics["checkpoint"] = str(checkpoint)
    metrics["epoch"] = ckpt.get("epoch")
    write_json(out / "metrics.json", metrics)
    _figures(out, model, data, splits.test.x, config, metrics, history)
    from spikeforge.report import print_metrics

    print_metrics(metrics, say)
    say(f"wrote {out / 'metrics.json'} and figures to {out}")
    return metrics
