"""`make bench` / `python -m bench [NAME_PREFIX...] [--runs N]`: every case, side by side."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path

from bench import cases as cases_pkg
from bench.harness import Case, Result, run_case, teardown_labs


def all_cases() -> list[Case]:
    found: list[Case] = []
    for info in sorted(pkgutil.iter_modules(cases_pkg.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"bench.cases.{info.name}")
        found.extend(getattr(module, "CASES", []))
    return found


def render(result: Result) -> str:
    anchor = "-" if result.anchor_ms is None else f"{result.anchor_ms:9.1f}"
    ratio = "-" if result.ratio is None else f"{result.ratio:6.2f}x"
    target = []
    if result.case.max_ratio is not None:
        target.append(f"ratio <= {result.case.max_ratio}")
    if result.case.max_ms is not None:
        target.append(f"<= {result.case.max_ms:g} ms")
    verdict = "PASS" if result.passed else "FAIL"
    return (
        f"{result.case.name:<34} {result.ours_ms:9.1f} {anchor:>9} {ratio:>8}  "
        f"{', '.join(target):<22} {verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help="run only cases whose name starts with these")
    parser.add_argument("--runs", type=int, default=None, help="override every case's runs")
    parser.add_argument("--json", type=Path, default=Path("bench/results/latest.json"))
    args = parser.parse_args()
    selected = [c for c in all_cases() if not args.names or c.name.startswith(tuple(args.names))]
    if not selected:
        print("no such case", file=sys.stderr)
        return 2
    print(f"{'case':<34} {'ours ms':>9} {'anchor ms':>9} {'ratio':>8}  {'target':<22} verdict")
    results = []
    try:
        for case in selected:
            if args.runs:
                case.runs = args.runs
            result = run_case(case)
            results.append(result)
            print(render(result), flush=True)
            for note in result.notes + ([case.note] if case.note else []):
                print(f"    {note}")
    finally:
        teardown_labs()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([r.as_dict() for r in results], indent=2) + "\n")
    print(f"(medians over each case's runs; details in {args.json})")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
