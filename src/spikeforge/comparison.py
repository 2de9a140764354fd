"""Compare input encodings and output decodings: the same network trained once per pair.

Each row trains with :func:`spikeforge.experiment.run_training` (its run folder, checkpoints
and metrics land in ``<out>/runs/<encoding>_<decoding>``), then evaluates the best model on
the test split once more to measure what a decision costs:

* ``accuracy``, ``f1_macro``: undecided samples count as errors;
* ``decision_latency``: mean over decided samples of the step (0-based) from which the
  decision no longer changes (:attr:`spikeforge.decode.Decision.step`; the first output
  spike for TTFS without ties); ``T`` when no sample is decided;
* ``spikes_per_sample``: spikes of all neuron layers (input spikes are reported apart as
  ``input_spikes_per_sample``);
* ``synops_per_sample``: synaptic operations (:mod:`spikeforge.synops`);
* ``accuracy_by_steps``: accuracy when deciding on the first ``k = 1..T`` steps only (early
  decision; the network is causal, so this equals running ``k`` steps).

A row whose run folder already holds a finished run with the same configuration is not
trained again, and an interrupted one is resumed, so a stopped comparison continues. The
options of a comparison (its pairs and shared configuration) are saved in
``<out>/compare_options.json`` before the first row; a rerun on the same folder with other
options is refused (:func:`check_rerun`), so ``comparison.json`` is never rewritten with
other rows or settings.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from spikeforge.checkpoint import atomic_write_bytes, load_checkpoint
from spikeforge.coding import Decoding, Encoding, decide, run_encoded
from spikeforge.config import TrainConfig
from spikeforge.datasets import ImageDataset
from spikeforge.errors import ConfigError
from spikeforge.experiment import run_training, write_json
from spikeforge.metrics import SpikeCounter, classification_metrics
from spikeforge.runfolder import TRAIN_OUTPUTS, claimed_folder, refuse_outputs
from spikeforge.synops import SynOpsCounter
from spikeforge.train import make_model, make_splits

__all__ = [
    "OPTIONS_FILE",
    "RECORD_KEYS",
    "check_rerun",
    "compare_codings",
    "evaluate_coding",
    "format_table",
    "plot_accuracy_vs_steps",
]

#: Keys every comparison record has (more keys follow them).
RECORD_KEYS = (
    "encoding",
    "decoding",
    "accuracy",
    "f1_macro",
    "decision_latency",
    "spikes_per_sample",
    "synops_per_sample",
)

Reporter = Callable[[str], None]


def evaluate_coding(
    model: Any, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, class_names: Sequence[str]
) -> dict[str, Any]:
    """Decisions, early-decision accuracy and costs of ``model`` on ``x`` ``[N, ...]``.

    Stochastic encoders draw from a generator seeded with ``config.seed + 1`` in batches of
    ``max(batch_size, 256)``, as :func:`spikeforge.train.evaluate` does, so the accuracy is
    the one the run reported. Returns the record fields after ``encoding``/``decoding``.
    """
    model.eval()
    g = torch.Generator().manual_seed(config.seed + 1)
    steps = config.num_steps
    batch = max(config.batch_size, 256)
    outs: list[torch.Tensor] = []
    input_spikes = [0.0]

    def count_input(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if config.encoding is not Encoding.DIRECT:
            input_spikes[0] += float(args[0].sum())

    handle = model.register_forward_pre_hook(count_input, with_kwargs=True)
    try:
        with torch.no_grad(), SpikeCounter(model) as spikes, SynOpsCounter(model) as synops:
            for i in range(0, len(y), batch):
                outs.append(run_encoded(model, x[i : i + batch], config.encoding, steps, g))
    finally:
        handle.remove()
    out = torch.cat(outs, dim=1)
    decision = decide(config.decoding, out)
    m = classification_metrics(y, decision.prediction, class_names)
    decided = ~decision.undecided
    latency = float(decision.step[decided].double().mean()) if bool(decided.any()) else steps
    by_steps = [
        float((decide(config.decoding, out[:k]).prediction == y).double().mean())
        for k in range(1, steps + 1)
    ]
    n = len(y)
    return {
        "accuracy": m["accuracy"],
        "f1_macro": m["f1_macro"],
        "decision_latency": latency,
        "spikes_per_sample": sum(spikes.counts().values()) / n,
        "synops_per_sample": synops.total() / n,
        "input_spikes_per_sample": input_spikes[0] / n,
        "undecided_fraction": float(decision.undecided.double().mean()),
        "tied_fraction": float(decision.tied.double().mean()),
        "num_steps": steps,
        "accuracy_by_steps": by_steps,
    }


def _same_run(run_dir: Path, config: TrainConfig) -> bool | None:
    """None: no run there; True: a run of ``config``; False: a run of another config.

    Where the data lives (``data_dir``) is not part of the training: a run whose data has
    moved is still the same run."""
    path = run_dir / "config.json"
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    return {**saved, "data_dir": None} == {**config.to_dict(), "data_dir": None}


#: Where a comparison folder keeps the options it was made with.
OPTIONS_FILE = "compare_options.json"

#: The CLI option of each shared configuration key (others are named by their key).
_OPTION_OF = {
    "dataset": "--dataset", "data_dir": "--data-dir", "arch": "--arch", "hidden": "--hidden",
    "channels": "--channels", "num_steps": "--num-steps", "epochs": "--epochs",
    "batch_size": "--batch-size", "lr": "--lr", "max_train_samples": "--max-train-samples",
    "seed": "--seed",
}  # fmt: skip


def _options(base: TrainConfig, pairs: Sequence[tuple[Encoding, Decoding]]) -> dict[str, Any]:
    """What defines a comparison: its encodings and decodings (in order) and the shared
    configuration (every field of ``base`` but the per-row encoding and decoding)."""
    shared = {k: v for k, v in base.to_dict().items() if k not in ("encoding", "decoding")}
    return {
        "encodings": list(dict.fromkeys(e.value for e, _ in pairs)),
        "decodings": list(dict.fromkeys(d.value for _, d in pairs)),
        "pairs": [[e.value, d.value] for e, d in pairs],
        "config": shared,
    }


def _typed(value: Any) -> str:
    """A saved value as it would be typed (``[32, 64]`` -> ``32,64``; ``None`` -> none)."""
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return ",".join(_typed(v) for v in value)
    return str(value)


def check_rerun(
    out_dir: str | Path, base: TrainConfig, pairs: Sequence[tuple[Encoding, Decoding]]
) -> None:
    """Refuse to continue the comparison in ``out_dir`` with other options than it was made
    with (nothing is written). Same options: fine (finished rows are reused, an interrupted
    one resumed). A folder of an older spikeforge without :data:`OPTIONS_FILE` is checked
    against the rows its ``comparison.json`` holds: none may be left out.

    Raises:
        ConfigError: one line naming each differing option, its saved and its new value.
    """
    out = Path(out_dir)
    new = _options(base, pairs)
    path = out / OPTIONS_FILE
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = None
        if not isinstance(old, dict):
            raise ConfigError(
                f"{str(path)!r} is unreadable; delete it if the comparison in {str(out)!r} "
                "was made with these options, or choose another --out"
            )
        diffs = []
        for key, option in (("encodings", "--encodings"), ("decodings", "--decodings")):
            if old.get(key) != new[key]:
                diffs.append((option, old.get(key), new[key]))
        saved = old.get("config") if isinstance(old.get("config"), dict) else {}
        for key, value in new["config"].items():
            if saved.get(key) != value:
                diffs.append((_OPTION_OF.get(key, key), saved.get(key), value))
    else:
        done = out / "comparison.json"
        try:
            records = json.loads(done.read_text()) if done.is_file() else []
            rows = [[r["encoding"], r["decoding"]] for r in records]
        except (OSError, ValueError, TypeError, KeyError):
            rows = []
        missing = [r for r in rows if r not in new["pairs"]]
        diffs = []
        if missing:
            had = [e for e, _ in rows], [d for _, d in rows]
            diffs = [
                ("--encodings", list(dict.fromkeys(had[0])), new["encodings"]),
                ("--decodings", list(dict.fromkeys(had[1])), new["decodings"]),
            ]
    if diffs:
        what = "; ".join(
            f"{option} {_typed(was)} (now {_typed(now)})"
            for option, was, now in diffs
            if was != now
        )
        raise ConfigError(
            f"{str(out)!r} holds a comparison made with other options: {what}; rerun with "
            "the same options to continue it, or choose another --out"
        )


def _train_row(config: TrainConfig, run_dir: Path, say: Reporter, progress: bool) -> None:
    same = _same_run(run_dir, config)
    if same is False:
        raise ConfigError(
            f"{str(run_dir)!r} holds a run with other options; choose another --out or "
            "delete that folder"
        )
    if same and (run_dir / "metrics.json").is_file() and (run_dir / "best.pt").is_file():
        say(f"  {run_dir.name}: finished run found, not trained again")
        return
    resume = bool(same) and (run_dir / "last.pt").is_file()
    run_training(
        config,
        run_dir,
        resume=resume,
        data_dir=config.data_dir if resume else None,
        report=lambda line: None,
        progress=progress,
    )


def compare_codings(
    base: TrainConfig,
    pairs: Sequence[tuple[Encoding, Decoding]],
    out_dir: str | Path,
    *,
    data: ImageDataset,
    report: Reporter | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Train ``base`` with each ``(encoding, decoding)`` pair and measure each (module doc).

    Writes ``comparison.json`` (a list of records, keys :data:`RECORD_KEYS` first),
    ``comparison.md`` (the table) and ``accuracy_vs_steps.png`` to ``out_dir`` after every
    row, so a partial comparison is readable. Returns the records.
    """
    if not pairs:
        raise ConfigError("compare: no encoding/decoding pair selected")
    check_rerun(out_dir, base, pairs)
    check = refuse_outputs(
        TRAIN_OUTPUTS, "it holds a training run; give the comparison a folder of its own"
    )
    with claimed_folder(out_dir, check=check) as out:
        write_json(out / OPTIONS_FILE, _options(base, pairs))
        return _compare_into(out, base, pairs, data, report or print, progress)


def _compare_into(
    out: Path,
    base: TrainConfig,
    pairs: Sequence[tuple[Encoding, Decoding]],
    data: ImageDataset,
    say: Reporter,
    progress: bool,
) -> list[dict[str, Any]]:
    say(
        f"compare on {data.name} ({data.source}): {len(pairs)} pairs, {base.arch.value} "
        f"{list(base.hidden)}, T={base.num_steps}, {base.epochs} epochs, lr {base.lr}"
    )
    splits = make_splits(data, base)
    records: list[dict[str, Any]] = []
    for i, (encoding, decoding) in enumerate(pairs, start=1):
        config = dataclasses.replace(base, encoding=encoding, decoding=decoding)
        run_dir = out / "runs" / f"{encoding.value}_{decoding.value}"
        say(f"[{i}/{len(pairs)}] encoding {encoding.value}, decoding {decoding.value}")
        t0 = time.perf_counter()
        _train_row(config, run_dir, say, progress)
        seconds = time.perf_counter() - t0
        ckpt = load_checkpoint(run_dir / "best.pt")
        model = make_model(config, data.input_shape, data.num_classes)
        model.load_state_dict(ckpt["model"])
        history = json.loads((run_dir / "history.json").read_text())
        record: dict[str, Any] = {"encoding": encoding.value, "decoding": decoding.value}
        record.update(
            evaluate_coding(model, splits.test.x, splits.test.y, config, data.class_names)
        )
        record.update(
            dataset=data.name,
            epochs=config.epochs,
            best_epoch=int(ckpt["epoch"]),
            train_seconds=float(sum(h["seconds"] for h in history)),
            wall_seconds=seconds,
            run_dir=str(run_dir),
        )
        records.append(record)
        say("  " + _row_text(record))
        write_json(out / "comparison.json", records)
        table = format_table(records) + "\n"
        atomic_write_bytes(out / "comparison.md", lambda f, t=table: f.write(t.encode()))
        plot_accuracy_vs_steps(records, out / "accuracy_vs_steps.png", title=data.name)
    return records


_COLUMNS = (
    ("encoding", "encoding", "{}"),
    ("decoding", "decoding", "{}"),
    ("accuracy", "accuracy %", "{:.2f}"),
    ("f1_macro", "macro F1", "{:.4f}"),
    ("decision_latency", "decision step", "{:.2f}"),
    ("undecided_fraction", "undecided %", "{:.2f}"),
    ("spikes_per_sample", "spikes/sample", "{:.1f}"),
    ("synops_per_sample", "SynOps/sample", "{:.3g}"),
    ("train_seconds", "train s", "{:.0f}"),
)


def _cell(record: dict[str, Any], key: str, fmt: str) -> str:
    value = record[key]
    if key in ("accuracy", "undecided_fraction"):
        value = 100 * value
    return fmt.format(value)


def _row_text(record: dict[str, Any]) -> str:
    return "  ".join(f"{title} {_cell(record, key, fmt)}" for key, title, fmt in _COLUMNS[2:])


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """The records as a Markdown table (one row per encoding/decoding pair)."""
    lines = [
        "| " + " | ".join(title for _, title, _ in _COLUMNS) + " |",
        "|" + "|".join("---" for _ in _COLUMNS) + "|",
    ]
    for r in records:
        lines.append("| " + " | ".join(_cell(r, k, f) for k, _, f in _COLUMNS) + " |")
    return "\n".join(lines)


def plot_accuracy_vs_steps(
    records: Sequence[dict[str, Any]], path: str | Path, title: str = ""
) -> Path:
    """Test accuracy (%) against the number of steps the decision may use, one line per row."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    styles = ("-", "--", ":", "-.")
    encodings = list(dict.fromkeys(r["encoding"] for r in records))
    decodings = list(dict.fromkeys(r["decoding"] for r in records))
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in records:
        ks = range(1, len(r["accuracy_by_steps"]) + 1)
        ax.plot(
            ks,
            [100 * a for a in r["accuracy_by_steps"]],
            styles[decodings.index(r["decoding"]) % len(styles)],
            color=f"C{encodings.index(r['encoding'])}",
            marker="o",
            markersize=3,
            label=f"{r['encoding']} / {r['decoding']}",
        )
    ax.set_xlabel("time steps used for the decision")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(f"Early decision{': ' + title if title else ''}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
