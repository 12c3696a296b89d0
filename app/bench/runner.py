"""Runs the macro benchmarks as subprocesses (each with `--json`), one after another, and gathers their figures.

Where the benchmarks are: they live in the repository's `benchmarks/` folder, not in the installed package.
`find_benchmarks` takes --benchmarks DIR, else $OCPI_ENGINE_BENCHMARKS, else the `benchmarks/` folder next to the
`app` package (a checkout or an editable install), else `./benchmarks`; otherwise it says how to get them."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import app
from app import __version__
from app.bench.figures import Figure
from app.bench.registry import Benchmark

RESULT_FORMAT = 1
PACKAGE_ROOT = Path(app.__file__).resolve().parent.parent  # the folder `app` is imported from


class BenchError(Exception):
    """A usage problem (no benchmarks folder, an unreadable --compare file): a precise message, exit status 2."""


def find_benchmarks(given: Path | None) -> Path:
    candidates = [given] if given else [Path(p) for p in [os.environ.get("OCPI_ENGINE_BENCHMARKS")] if p]
    if not candidates:
        candidates = [PACKAGE_ROOT / "benchmarks", Path.cwd() / "benchmarks"]
    for folder in candidates:
        if (folder / "macro_batch.py").is_file():
            return folder.resolve()
    if given:
        raise BenchError(f"{given}: not a benchmarks folder (no macro_batch.py in it)")
    raise BenchError("the benchmarks are not part of the installed package: run from a checkout of the repository "
                     "(its benchmarks/ folder), or pass --benchmarks DIR (or set OCPI_ENGINE_BENCHMARKS) to the "
                     "benchmarks/ folder of a checkout of the same version")


@dataclass
class Outcome:
    name: str
    status: str  # ok | failed | skipped
    seconds: float = 0.0
    note: str = ""
    command: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "seconds": round(self.seconds, 1), "note": self.note, "command": self.command,
                "figures": [f.to_json() for f in self.figures], "report": self.report}

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> Outcome:
        return cls(name, data.get("status", "ok"), data.get("seconds", 0.0), data.get("note", ""),
                   data.get("command", []), [Figure.from_json(f) for f in data.get("figures", [])])


@dataclass
class Options:
    quick: bool = False
    base_port: int | None = None
    work_dir: Path | None = None  # kept generated data; default: a temporary folder, removed
    timeout: float = 900.0


def command(bench: Benchmark, script: Path, opts: Options, json_out: Path, work: Path) -> list[str]:
    cmd = [sys.executable, str(script), *(bench.quick_args if opts.quick else bench.full_args), "--json", str(json_out)]
    if bench.seed is not None:
        cmd += ["--seed", str(bench.seed)]
    if bench.base_port and opts.base_port:
        cmd += ["--base-port", str(opts.base_port)]
    if bench.work_dir:
        cmd += ["--work-dir", str(work / bench.name)]
    return cmd


def _env() -> dict[str, str]:
    # The benchmarks import `app` and `rust_core`: the same ones as this process, installed or from a checkout.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the benchmark's process group (the benchmarks clean up their servers and databases on it)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return "\n".join(text[-lines:])


def run_one(bench: Benchmark, folder: Path, opts: Options, work: Path) -> Outcome:
    script = folder / bench.script
    if not script.is_file():
        return Outcome(bench.name, "skipped", note=f"{bench.script} not found in {folder}"
                       + (f": {bench.missing_note}" if bench.missing_note else ""))
    json_out, log = work / f"{bench.name}.json", work / f"{bench.name}.log"
    cmd = command(bench, script, opts, json_out, work)
    t = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_env(), cwd=work,
                                start_new_session=True)
        try:
            rc: int | None = proc.wait(opts.timeout)
        except subprocess.TimeoutExpired:  # stop the benchmark (it cleans up its servers) and go on
            _stop(proc)
            rc = None
        except BaseException:  # Ctrl-C: the same, then stop the suite
            _stop(proc)
            raise
    seconds = time.perf_counter() - t
    shown = [Path(c).name if c in (sys.executable, str(script)) else c for c in cmd]
    if rc is None:
        return Outcome(bench.name, "failed", seconds, f"stopped after {opts.timeout:g} s\n{_tail(log)}", shown)
    try:
        report = json.loads(json_out.read_text())
    except (OSError, ValueError) as exc:
        return Outcome(bench.name, "failed", seconds, f"exit status {rc}, no JSON report ({exc})\n{_tail(log)}",
                       shown)
    report.pop("server_log_tail", None)  # megabytes of logs that say nothing about speed
    figures = bench.figures(report)
    note = f"exit status {rc} (the benchmark's own check failed)\n{_tail(log)}" if rc else ""
    missing = [f.name for f in figures if f.value is None]
    if missing:
        note += ("\n" if note else "") + f"not in its report: {', '.join(missing)}"
    return Outcome(bench.name, "failed" if rc or missing else "ok", seconds, note, shown, figures, report)


def environment(folder: Path) -> dict[str, Any]:
    env: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "ocpi_engine": __version__,
        "benchmarks": str(folder),
    }
    try:
        with open("/proc/cpuinfo") as f:
            env["cpu_model"] = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    git = shutil.which("git")
    if git:
        head = subprocess.run([git, "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True)
        if head.returncode == 0:
            dirty = subprocess.run([git, "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True).stdout.strip()
            env["git_commit"] = head.stdout.strip() + ("-dirty" if dirty else "")
    return env


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_all(benches: list[Benchmark], folder: Path, opts: Options) -> dict[str, Any]:
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = environment(folder)
    t = time.perf_counter()
    own = opts.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="ocpi-bench-")) if own else opts.work_dir
    assert work is not None
    work.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, Outcome] = {}
    try:
        for i, bench in enumerate(benches, 1):
            progress(f"{i}/{len(benches)} {bench.name}: {bench.about} ...")
            outcome = run_one(bench, folder, opts, work)
            outcomes[bench.name] = outcome
            progress(f"{i}/{len(benches)} {bench.name}: {outcome.status} in {outcome.seconds:.1f} s"
                     + (f"; {outcome.note.splitlines()[0]}" if outcome.note else ""))
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    env["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return {"format": RESULT_FORMAT, "started_at": started, "quick": opts.quick,
            "seconds": round(time.perf_counter() - t, 1), "environment": env,
            "benchmarks": {name: o.to_json() for name, o in outcomes.items()}}


def load(path: Path) -> dict[str, Outcome]:
    """The outcomes of an earlier `--json` file."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise BenchError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise BenchError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), dict):
        raise BenchError(f"{path}: not a result of `ocpi-engine bench --json` (no \"benchmarks\" object)")
    return {name: Outcome.from_json(name, o) for name, o in data["benchmarks"].items()}
