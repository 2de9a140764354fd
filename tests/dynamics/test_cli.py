"""``spikeforge simulate`` end to end through ``spikeforge.cli.main``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from spikeforge.cli import main


def test_hh_summary_json_and_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "hh"
    code = main(
        [
            "simulate",
            "hh",
            "--current",
            "10",
            "--duration",
            "40",
            "--dt",
            "0.05",
            "--method",
            "rk4",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    times = summary["spike_times"]
    assert len(times) == 1 and summary["spike_count"] == [len(times[0])] and len(times[0]) >= 2
    isis = np.diff(times[0])
    assert summary["isi_mean"][0] == pytest.approx(float(isis.mean()), rel=1e-12)
    assert summary["isi_cv"][0] == pytest.approx(float(isis.std() / isis.mean()), rel=1e-9)
    assert summary["rate_hz"][0] == pytest.approx(len(times[0]) / 0.040)
    assert times[0][0] == pytest.approx(1.9, abs=0.05)  # first spike of a 10 uA/cm2 step
    npz = np.load(out / "traces.npz")
    assert npz["states"].shape == (801, 1, 4) and list(npz["variables"]) == ["v", "m", "h", "n"]
    header = (out / "traces.csv").read_text().splitlines()[0]
    assert header == "t,v[0],m[0],h[0],n[0]"
    assert (out / "voltage.png").stat().st_size > 0 and (out / "gating.png").exists()
    assert "spike times" in capsys.readouterr().out


def test_izhikevich_preset_batch_and_phase_plane(tmp_path: Path) -> None:
    out = tmp_path / "izh"
    code = main(
        [
            "simulate",
            "izhikevich",
            "--params",
            "FS",
            "d=2.5",
            "--current",
            "5,10",
            "--duration",
            "100",
            "--dt",
            "0.1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["spike_times"]) == 2
    assert summary["spike_count"][1] > summary["spike_count"][0] > 0
    assert (out / "phase.png").exists() and (out / "recovery.png").exists()


def test_fi_curve_writes_currents_and_rates(tmp_path: Path) -> None:
    out = tmp_path / "fi"
    code = main(
        [
            "simulate",
            "lif",
            "--fi-curve",
            "1:3:0.5",
            "--duration",
            "200",
            "--dt",
            "0.1",
            "--params",
            "t_ref=2",
            "--out",
            str(out),
            "--no-figures",
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["currents"] == [1.0, 1.5, 2.0, 2.5, 3.0]
    rates = summary["rates_hz"]
    # default LIF: tau 10 ms, R 10 MOhm, threshold 15 mV, reset 0: silent at RI <= 15 mV
    assert rates[0] == 0.0 and rates[1] == 0.0
    for current, rate in zip(summary["currents"][2:], rates[2:], strict=True):
        isi = 10.0 * math.log(10 * current / (10 * current - 15.0)) + 2.0
        # 1 / mean ISI over the last 100 ms; ISIs exact to dt^2 / (8 tau) = 1.25e-4 ms
        assert rate == pytest.approx(1000.0 / isi, rel=1e-4)
    assert (out / "fi_curve.csv").read_text().startswith("current_nA,rate_hz")


@pytest.mark.parametrize(
    "stimulus",
    [
        ["--stimulus", "step", "--onset", "10"],
        ["--stimulus", "ramp", "--current-end", "20"],
        ["--stimulus", "noisy", "--noise-std", "2", "--seed", "3"],
    ],
)
def test_stimulus_shapes(tmp_path: Path, stimulus: list[str]) -> None:
    out = tmp_path / "s"
    code = main(
        [
            "simulate",
            "izhikevich",
            "--current",
            "10",
            "--duration",
            "50",
            "--no-figures",
            "--out",
            str(out),
            *stimulus,
        ]
    )
    assert code == 0
    current = np.load(out / "traces.npz")["current"]
    assert current.shape == (500, 1)
    if stimulus[1] == "step":
        assert current[:100].max() == 0.0 and current[100:].min() == 10.0
    if stimulus[1] == "ramp":
        assert current[0, 0] == 10.0 and current[-1, 0] == 20.0


def test_stimulus_file(tmp_path: Path) -> None:
    samples = tmp_path / "i.csv"
    samples.write_text("\n".join(["0.5"] * 100) + "\n")
    out = tmp_path / "f"
    assert (
        main(
            [
                "simulate",
                "fhn",
                "--stimulus",
                "file",
                "--stimulus-file",
                str(samples),
                "--duration",
                "10",
                "--dt",
                "0.1",
                "--out",
                str(out),
                "--no-figures",
            ]
        )
        == 0
    )
    assert np.load(out / "traces.npz")["current"].shape == (100, 1)
    code = main(
        [
            "simulate",
            "fhn",
            "--stimulus",
            "file",
            "--stimulus-file",
            str(samples),
            "--duration",
            "20",
            "--dt",
            "0.1",
        ]
    )
    assert code == 2


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["simulate", "squid"], "unknown model"),
        (["simulate", "hh", "--method", "leapfrog"], "unknown method"),
        (["simulate", "hh", "--dt", "-1"], "--dt"),
        (["simulate", "hh", "--params", "c_m=0"], "c_m"),
        (["simulate", "hh", "--params", "gna=1"], "no parameter"),
        (["simulate", "izhikevich", "--params", "XY"], "preset"),
        (["simulate", "lif", "--method", "euler", "--dt", "20"], "unstable"),
        (["simulate", "hh", "--fi-curve", "5:1:1"], "--fi-curve"),
        (["simulate", "hh", "--current", "ten"], "--current"),
        (["simulate", "hh", "--method", "euler", "--dt", "0.5", "--duration", "50"], "smaller dt"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def _one_error_line(capsys: pytest.CaptureFixture[str], option: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0], err
    return err[0]


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--duration", "1e12"], "--duration"),
        (["--dt", "1e-12", "--duration", "100"], "--dt"),
        (["--fi-curve", "0:1e9:1e-9"], "--fi-curve"),
        (["--fi-curve", "0:100:1e-3", "--duration", "1e5"], "--fi-curve"),
        (["--current", "1,2,3,4,5,6,7,8,9,10", "--duration", "1e6"], "--current"),
        (["--stimulus", "step", "--onset", "50", "--offset", "10"], "--offset"),
        (["--stimulus", "step", "--onset", "500", "--duration", "100"], "--onset"),
        (["--fi-curve", "5:10:1", "--settle", "50", "--duration", "10"], "--settle"),
        (["--fi-curve", "5:10:1", "--settle", "-1", "--duration", "10"], "--settle"),
        (["--current", ""], "--current"),
        (["--current", "1,,2"], "--current"),
        (["--stimulus", "noisy", "--noise-std", "nan"], "--noise-std"),
        (["--stimulus", "ramp", "--current-end", "nan"], "--current-end"),
        (["--stimulus", "ramp", "--current-end", "inf"], "--current-end"),
    ],
)
def test_simulate_rejects_bad_sizes_and_values_up_front(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "hh", *argv]) == 2
    _one_error_line(capsys, option)


def test_simulate_out_that_is_a_file_fails_before_simulating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file.pt"
    target.write_bytes(b"")
    assert main(["simulate", "hh", "--duration", "10", "--out", str(target)]) == 2
    assert "is a file; give a folder" in _one_error_line(capsys, "--out")
    assert main(["simulate", "hh", "--duration", "10", "--out", str(target / "sub")]) == 2
    _one_error_line(capsys, "--out")


def test_simulate_empty_stimulus_csv_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code = main(["simulate", "hh", "--stimulus", "file", "--stimulus-file", str(empty),
                 "--duration", "1"])
    assert code == 2
    _one_error_line(capsys, "empty.csv")


def test_simulate_help_shows_per_model_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "hh 100" in text and "hh 0.01" in text and "hh rk4" in text


@pytest.mark.parametrize(("model", "label"), [("hh", "v (mV)"), ("lif", "v (mV)"),
                                              ("fhn", "v (dimensionless)")])
def test_voltage_figure_y_axis_has_its_unit(
    model: str, label: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.figure import Figure

    labels: dict[str, list[str]] = {}
    real = Figure.savefig

    def spy(self: Figure, path: object, *a: object, **k: object) -> None:
        labels[Path(str(path)).name] = [ax.get_ylabel() for ax in self.axes]
        real(self, path, *a, **k)

    monkeypatch.setattr(Figure, "savefig", spy)
    assert main(["simulate", model, "--duration", "5", "--out", str(tmp_path / model)]) == 0
    assert labels["voltage.png"][0] == label


def _save_npy(array: np.ndarray, allow_pickle: bool = False):
    def write(path: Path) -> None:
        np.save(path, array, allow_pickle=allow_pickle)

    return write


@pytest.mark.parametrize(
    ("name", "write", "needle"),
    [
        ("s.npy", _save_npy(np.array(["1.0", "2.0"] * 600)), "must hold numbers"),
        ("o.npy", _save_npy(np.array([1.0, "x", None] * 400, dtype=object), True),
         "must hold numbers"),
        ("c.npy", _save_npy(np.ones(1200, dtype=complex)), "got complex numbers"),
        ("t.npy", lambda p: p.write_text("not an array"), "must hold numbers"),
        ("t.csv", lambda p: p.write_text("1\n" * 5 + "abc\n" + "1\n" * 1200), "must hold numbers"),
        ("e.npy", _save_npy(np.array([])), "is empty"),
        ("e2.npy", _save_npy(np.zeros((1200, 0))), "is empty"),
        ("x3.npy", _save_npy(np.zeros((1200, 2, 2))), "3-D array"),
        ("z.npy", _save_npy(np.array(3.0)), "0-D array"),
        ("nan.npy", _save_npy(np.r_[np.ones(7), np.nan, np.ones(1200)]), "row 7, column 0"),
        ("inf.npy", _save_npy(np.r_[np.ones(1200), -np.inf]), "NaN or infinite"),
        ("dir", lambda p: p.mkdir(), "is a folder"),
    ],
)
def test_bad_stimulus_file_is_one_line_and_writes_nothing(
    name: str, write, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file of strings used to end in ``ValueError: could not convert string to float``, a
    folder was said not to exist."""
    path = tmp_path / name
    write(path)
    out = tmp_path / "out"
    code = main(["simulate", "hh", "--stimulus", "file", "--stimulus-file", str(path),
                 "--duration", "10", "--dt", "0.01", "--out", str(out)])
    assert code == 2
    line = _one_error_line(capsys, str(path))
    assert needle in line and line.startswith("spikeforge simulate: error: stimulus file ")
    assert not out.exists()


def test_two_column_stimulus_file_simulates_two_neurons(tmp_path: Path) -> None:
    path = tmp_path / "two.npy"
    np.save(path, np.stack([np.full(100, 0.5), np.zeros(100)], axis=1).astype(np.float32))
    out = tmp_path / "o"
    assert main(["simulate", "fhn", "--stimulus", "file", "--stimulus-file", str(path),
                 "--duration", "10", "--dt", "0.1", "--out", str(out), "--no-figures"]) == 0
    assert np.load(out / "traces.npz")["current"].shape == (100, 2)


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--current", "1e300"], "--current"),
        (["--current", "5,-1e7"], "--current"),
        (["--fi-curve", "0:1e7:5e6"], "--fi-curve"),
        (["--stimulus", "ramp", "--current", "5", "--current-end", "1e300"], "--current-end"),
        (["--stimulus", "ramp", "--current=-1e300", "--current-end", "5"], "--current"),
    ],
)
def test_diverging_huge_current_names_the_current_not_dt(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to say "use a smaller dt or another method"."""
    assert main(["simulate", "hh", "--duration", "1", *argv]) == 2
    line = _one_error_line(capsys, option)
    assert line.startswith(f"spikeforge simulate: error: {option}: a current of ")
    assert "is too large for Hodgkin-Huxley" in line and "within +-10000 uA/cm2" in line


def test_diverging_ordinary_current_still_blames_dt(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "hh", "--method", "euler", "--dt", "0.5", "--duration", "50"]) == 2
    assert "use a smaller dt" in _one_error_line(capsys, "dt")


@pytest.mark.parametrize(
    ("spec", "asked"),
    [("0:1000000:1", "1,000,001"), ("0:2000:0.001", "2,000,001"),
     ("0:1e9:1e-9", "about 1e+18"), ("0:1e300:1e-300", "more than 1e+308")],
)
def test_fi_curve_too_many_currents_says_how_many_and_the_limit(
    spec: str, asked: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "hh", "--fi-curve", spec]) == 2
    assert _one_error_line(capsys, "--fi-curve") == (
        f"spikeforge simulate: error: --fi-curve {spec} asks for {asked} currents; at most "
        "1,000,000 are simulated at once; use a larger STEP or a narrower START:STOP"
    )


@pytest.mark.parametrize("spec", ["a:b:c", "1:2:x", "::", "1:2:"])
def test_fi_curve_that_is_not_numbers_names_the_colon_format(
    spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to say "--fi-curve must be numbers separated by commas, got 'a'"."""
    assert main(["simulate", "hh", "--fi-curve", spec]) == 2
    assert _one_error_line(capsys, "--fi-curve") == (
        "spikeforge simulate: error: --fi-curve must be START:STOP:STEP, three numbers "
        f"separated by colons like 5:10:0.5, got {spec!r}"
    )


_TWO_PRESETS = "give one preset (key=value pairs after it change its values)"


@pytest.mark.parametrize(
    ("params", "said"),
    [
        (["RS", "FS"], f"names two presets, 'RS' and 'FS'; {_TWO_PRESETS}"),
        (["rs", "d=2", "RS"], f"names two presets, 'rs' and 'RS'; {_TWO_PRESETS}"),  # same one
        (["a=0.02", "a=0.1"], "sets a twice, 'a=0.02' and 'a=0.1'; give each parameter once"),
        (["FS", "d=2", "b=0.3", "d=2"], "sets d twice, 'd=2' and 'd=2'; give each parameter once"),
    ],
)
def test_params_refuse_two_presets_or_a_key_twice_naming_both(
    params: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--params RS FS`` used to simulate FS, ``a=0.02 a=0.1`` used a = 0.1."""
    assert main(["simulate", "izhikevich", "--duration", "1", "--params", *params]) == 2
    assert _one_error_line(capsys, "--params") == f"spikeforge simulate: error: --params {said}"


def test_params_preset_with_overrides_still_combines() -> None:
    from spikeforge.dynamics.catalog import ModelKind, parse_params
    from spikeforge.dynamics.izhikevich import IzhikevichPreset

    p = parse_params(ModelKind.IZHIKEVICH, ["FS", "d=2.5", "c=-60"])
    a, b, _, _ = IzhikevichPreset.FS.value
    assert (p.a, p.b, p.c, p.d) == (a, b, -60.0, 2.5)


def _suggested_methods(line: str) -> list[str]:
    """The methods in "... or another method (x, y or z)" at the end of ``line``."""
    inside = line.rsplit("(", 1)[1].removesuffix(")")
    return inside.replace(" or ", ", ").split(", ")


#: The methods a diverged simulation suggests, when another one failed.
_STABLE = ["rk4", "exp_euler", "dopri5"]


@pytest.mark.parametrize("method", ["rk4", "euler"])
def test_diverged_simulation_suggests_only_other_methods(
    method: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``simulate fhn --dt 10`` (rk4) used to suggest "(rk4, exp_euler or dopri5)"."""
    assert main(["simulate", "fhn", "--dt", "10", "--method", method]) == 2
    line = _one_error_line(capsys, "another method")
    assert f"with method {method} and dt = 10; use a smaller dt or another method (" in line
    assert _suggested_methods(line) == [m for m in _STABLE if m != method]


@pytest.mark.parametrize("method", ["euler", "exp_euler", "rk4", "dopri5"])
def test_divergence_message_never_suggests_the_failed_method(method: str) -> None:
    import torch

    from spikeforge.dynamics.catalog import SPECS, ModelKind
    from spikeforge.dynamics.integrators import Method
    from spikeforge.dynamics.simulation import _check_finite
    from spikeforge.errors import SimulationError

    spec = SPECS[ModelKind.FHN]
    system = spec.system(spec.params_type())
    states = [torch.zeros(1, 2, dtype=torch.float64), torch.full((1, 2), math.nan)]
    with pytest.raises(SimulationError) as err:
        _check_finite(system, states, 0.5, Method(method))
    assert f"at t = 0.5 with method {method} and dt = 0.5" in str(err.value)
    assert _suggested_methods(str(err.value)) == [m for m in _STABLE if m != method]


@pytest.mark.parametrize("option", ["--dt", "--duration", "--current-end", "--onset"])
def test_float_option_that_is_not_a_number_is_one_line(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "hh", option, "abc"]) == 2
    assert _one_error_line(capsys, option) == (
        f"spikeforge simulate: error: argument {option}: must be a number, got 'abc'"
    )
