"""`poseexport formats`: every registered export format, whether its artifacts run here
(`available`: the backend's run requirements) and whether it exports here (`export`: its
export requirements, Python modules and programs on PATH), each with the fix when not."""
from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    parser = sub.add_parser("formats", help="list export formats and whether they run here",
                            description="The format table, read from the backend registry: whether each "
                                        "format works here, the devices its artifacts run on (convert "
                                        "--device) and its own convert options (details: convert --help).")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def format_rows() -> list[dict]:
    from ..contract.registry import get_backend, registered

    rows = []
    for name, target in registered().items():
        try:
            backend = get_backend(name)
        except ImportError as err:
            rows.append({"format": name, "argument": name, "suffix": "?", "extra": "?",
                         "available": False, "why_not": f"plugin {target} failed to import: {err}",
                         "exportable": False, "export_why_not": f"plugin {target} failed to import",
                         "precisions": [], "dynamic": False, "source": "?", "devices": [],
                         "options": []})
            continue
        available, exportable = backend.availability(), backend.export_availability()
        rows.append({"format": backend.title, "argument": name, "suffix": backend.suffix or "folder",
                     "extra": backend.extra or "-", "available": bool(available),
                     "why_not": available.reason, "exportable": bool(exportable),
                     "export_why_not": exportable.reason, "export_note": backend.export_note(),
                     "precisions": list(backend.capabilities.precisions),
                     "refused": dict(backend.capabilities.refused),
                     "dynamic": backend.capabilities.dynamic, "source": _source_text(backend.source),
                     "decode": list(backend.capabilities.decode),
                     "devices": list(backend.capabilities.devices),
                     "options": [_option_row(o) for o in backend.options]})
    return rows


def _export_cell(row: dict) -> str:
    if not row["exportable"]:
        return f"no: {row['export_why_not']}"
    return f"partly: {row['export_note']}" if row.get("export_note") else "yes"


def _source_text(source) -> str:
    """"graph", a format name, or a Source (format and precision): as the table shows it."""
    return source if isinstance(source, str) else source.describe()


def _option_row(option) -> dict:
    return {"name": option.name, "flag": option.cli_flag, "type": option.type.__name__,
            "default": option.default, "choices": list(option.choices) if option.choices else None,
            "help": option.help}


def run(args: argparse.Namespace) -> int:
    rows = format_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("format", "argument", "suffix", "extra", "available", "export", "precisions", "dynamic", "decode",
              "source", "devices", "options")
    table = [[r["format"], r["argument"], r["suffix"], r["extra"],
              "yes" if r["available"] else f"no: {r['why_not']}",
              _export_cell(r), ",".join(r["precisions"]),
              "yes" if r["dynamic"] else "no", ",".join(r.get("decode") or ["graph"]), r["source"],
              ",".join(r["devices"]), " ".join(o["flag"] for o in r["options"]) or "-"] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]
    for line in [header, ["-" * w for w in widths], *table]:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip())
    for r in rows:  # precisions a format refuses, with the reason
        for precision, why in (r.get("refused") or {}).items():
            print(f"{r['argument']} has no {precision}: {why}")
    return 0
