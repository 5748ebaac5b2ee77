#!/usr/bin/env python3
"""Mutation testing of the consensus core: every mutant must be killed.

Each mutant is a fixed list of exact text substitutions in ``oceanfed.consensus``, each
anchored on text that occurs exactly once (the script stops with exit 2 naming the anchor if
one is missing or ambiguous, so a change to the core cannot silently disarm a mutant). A
mutant is applied to a copy of ``core/src`` in a temporary directory, put first on
``PYTHONPATH``; the working tree is never edited. Against each mutant the kill suite runs, in
order of cost, until one stage fails:

1. ``tests/consensus`` (one example per rule, exact actions);
2. the bounded exhaustive explorer (``tests/sim/explore.py``), first violation stops it;
3. the simulator's named scenarios (``tests/sim/test_scenarios.py``);
4. a small sample of the random schedules (``tests/sim/scenarios.py`` fault sets).

``--every-stage`` runs all four stages against each mutant and shows which ones kill it.
Prints the score (killed/total); exit 1 if any mutant survives.

Usage: ``python scripts/mutate.py [--every-stage] [--only NAME ...] [--list]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "core" / "src"
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else sys.executable
MACHINE = "oceanfed/consensus/machine.py"


@dataclass(frozen=True)
class Mutant:
    name: str
    why: str  # what the mutant breaks
    edits: tuple[tuple[str, str, str], ...]  # (file under core/src, anchor, replacement)


MUTANTS: list[Mutant] = [
    Mutant(
        "lock-rule-off",
        "a locked member prevotes any valid proposal (both lock-rule lines: free = True)",
        (
            (MACHINE, "free = h.locked is None or h.locked.block == v\n", "free = True\n"),
            (MACHINE, "free = h.locked is None or h.locked.round <= vr or h.locked.block == v\n",
             "free = True\n"),
        ),
    ),
    Mutant(
        "proof-of-lock-off",
        "a re-proposal is prevoted without M prevotes for it in its valid round",
        ((MACHINE, "if vr == -1 or not (vr < r and self._support(PREVOTE, vr, v) >= m):",
          "if vr == -1 or not vr < r:"),),
    ),
    Mutant(
        "polka-quorum-m-1",
        "M - 1 prevotes count as a polka (lock and precommit)",
        ((MACHINE, "if self._support(PREVOTE, r, v) >= m and h.validity",
          "if self._support(PREVOTE, r, v) >= m - 1 and h.validity"),),
    ),
    Mutant(
        "decide-quorum-m-1",
        "M - 1 precommits decide a block",
        ((MACHINE, "if self._support(PRECOMMIT, rr, v) >= m and v in h.blocks:",
          "if self._support(PRECOMMIT, rr, v) >= m - 1 and v in h.blocks:"),),
    ),
    Mutant(
        "persist-after-broadcast",
        "a vote leaves before it is on disk (a crash in between forgets it)",
        ((MACHINE,
          "        if not already_recorded:\n            self._persist()\n"
          "        self._emit(A.Broadcast(frame))\n",
          "        self._emit(A.Broadcast(frame))\n"
          "        if not already_recorded:\n            self._persist()\n"),),
    ),
    Mutant(
        "sign-state-check-skipped",
        "the last line of defence before signing is gone",
        ((MACHINE, "if not self.sign_state.allows(h.height, h.decided):", "if False:"),),
    ),
    Mutant(
        "round-jump-off-by-one",
        "N - M members (not N - M + 1) in a later round make us jump to it",
        ((MACHINE, "k = self.cfg.n - self.cfg.threshold + 1", "k = self.cfg.n - self.cfg.threshold"),),
    ),
    Mutant(
        "own-frame-filter",
        "frames signed by this member are dropped, its own proposal gossiped back included",
        ((MACHINE,
          "        # our own frames come back when peers gossip them",
          "        if env.sender == self.cfg.me:\n            return\n"
          "        # our own frames come back when peers gossip them"),),
    ),
]


# ---------------------------------------------------------------------- the kill suite

def _pytest(*args: str) -> list[str]:
    return [PYTHON, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header", *args]


#: random schedules of the sample: (fault set, N, M, seeds)
SAMPLE = [("crash", 3, 2, 12), ("crash", 4, 3, 12), ("mixed", 4, 3, 12), ("everything", 5, 4, 8),
          ("down", 5, 4, 8), ("equivocate", 4, 3, 8)]

_SAMPLE_CODE = f"""
import sys
sys.path.insert(0, "tests/sim")
from scenarios import run_batch
failures = []
for name, n, m, k in {SAMPLE!r}:
    failures += run_batch(name, n, m, range(k)).failures
print("\\n".join(failures[:3]) or "no failure")
sys.exit(1 if failures else 0)
"""

#: the explorer's bounds used here: each stops at its first violation
EXPLORE = [["2-of-3", "--rounds", "1"],
           ["2-of-3", "--rounds", "1", "--early", "2", "--max-states", "30000"],
           ["2-of-3", "--rounds", "1", "--crashes", "1", "--max-states", "30000"]]

STAGES: list[tuple[str, list[list[str]], float]] = [
    ("consensus tests", [_pytest("tests/consensus")], 300),
    ("explorer", [[PYTHON, "tests/sim/explore.py", *b] for b in EXPLORE], 600),
    ("named scenarios", [_pytest("tests/sim/test_scenarios.py", "-k",
                                 "not split_brain_config and not replay_command")], 900),
    ("random schedules", [[PYTHON, "-c", _SAMPLE_CODE]], 600),
]


def check_anchors() -> list[str]:
    """Every anchor occurs exactly once in today's code (else the mutant means nothing)."""
    problems = []
    for mutant in MUTANTS:
        for path, anchor, _ in mutant.edits:
            count = (SRC / path).read_text().count(anchor)
            if count != 1:
                problems.append(f"{mutant.name}: anchor occurs {count} times in {path}: {anchor!r}")
    return problems


def apply(mutant: Mutant | None, dest: Path) -> None:
    shutil.copytree(SRC / "oceanfed", dest / "oceanfed",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for path, anchor, replacement in mutant.edits if mutant else ():
        target = dest / path
        text = target.read_text()
        assert text.count(anchor) == 1, (mutant, anchor)
        target.write_text(text.replace(anchor, replacement))


def run_stage(cmds: list[list[str]], env: dict[str, str], timeout: float) -> tuple[bool, str]:
    """(failed, last lines of output) of running ``cmds`` in turn until one fails."""
    for cmd in cmds:
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:  # not a kill: a slow stage proves nothing
            return False, f"timed out after {timeout:.0f}s"
        if proc.returncode != 0:
            lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
            named = [ln for ln in lines if ln.startswith(("FAILED", "FAIL "))]
            return True, (named[0] if named else lines[-1] if lines else f"exit {proc.returncode}")
    return False, ""


def run_mutant(mutant: Mutant | None, every_stage: bool, stages: list[str] | None = None) -> list[tuple[str, bool, str]]:
    with tempfile.TemporaryDirectory(prefix="oceanfed-mutant-") as tmp:
        apply(mutant, Path(tmp))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [tmp, *filter(None, [os.environ.get("PYTHONPATH")])]), PYTHONDONTWRITEBYTECODE="1")
        check = subprocess.run([PYTHON, "-c", "import oceanfed; print(oceanfed.__file__)"],
                               env=env, cwd=ROOT, capture_output=True, text=True)
        if not check.stdout.startswith(tmp):
            sys.exit(f"mutate: the copy in {tmp} is not what Python imports: {check.stdout or check.stderr}")
        results = []
        for name, cmds, timeout in STAGES:
            if stages is not None and name not in stages:
                continue
            failed, out = run_stage(cmds, env, timeout)
            results.append((name, failed, out))
            if failed and not every_stage:
                break
        return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every-stage", action="store_true",
                        help="run every stage against each mutant (which ones kill it)")
    parser.add_argument("--only", nargs="*", help="run only these mutants")
    parser.add_argument("--stage", nargs="*", choices=[name for name, _, _ in STAGES],
                        help="run only these stages of the kill suite")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    if args.list:
        for mutant in MUTANTS:
            print(f"{mutant.name}: {mutant.why}")
        return 0
    problems = check_anchors()
    if problems:
        print("mutate: cannot apply every mutant to today's code:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 2
    mutants = [m for m in MUTANTS if not args.only or m.name in args.only]
    start = time.perf_counter()
    # the unmutated copy must pass the cheapest stage, or the kills below mean nothing
    baseline = run_mutant(None, False, stages=["consensus tests"])
    if baseline[0][1]:
        print(f"mutate: the unmutated copy fails the consensus tests:\n{baseline[0][2]}", file=sys.stderr)
        return 2
    survivors = []
    for mutant in mutants:
        t0 = time.perf_counter()
        results = run_mutant(mutant, args.every_stage, args.stage)
        killers = [name for name, failed, _ in results if failed]
        took = time.perf_counter() - t0
        if killers:
            detail = next(out for _, failed, out in results if failed)
            print(f"killed   {mutant.name:26} by {', '.join(killers)} ({took:.0f}s): "
                  f"{detail[:160]}", flush=True)
        else:
            survivors.append(mutant.name)
            print(f"SURVIVED {mutant.name:26} ({took:.0f}s): {mutant.why}", flush=True)
    killed = len(mutants) - len(survivors)
    print(f"mutation score: {killed}/{len(mutants)} killed in {time.perf_counter() - start:.0f}s"
          + (f"; survivors: {', '.join(survivors)}" if survivors else ""))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
