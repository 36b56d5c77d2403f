"""Where an explorer interaction's time goes in the page: a summary of Chrome traces.

    METRICSENSE_TRACE=1 python -m pytest tests/test_jupyterlab_picture.py   # writes test-artifacts/trace-*.json
    python benchmarks/trace_summary.py test-artifacts/trace-*.json

Per trace (one interaction, from the input to the frame that showed its result): the main
thread's time by kind (script, style, layout, paint, ...), from the input event on, the
longest script calls with their source, and the WebSocket messages received (the kernel's
answers: widget updates). Reads the trace; measures nothing itself.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

KINDS = {"FunctionCall": "script", "EvaluateScript": "script", "v8.compile": "script", "TimerFire": "script",
         "EventDispatch": "event", "FireAnimationFrame": "script", "RunMicrotasks": "script",
         "UpdateLayoutTree": "style", "ParseAuthorStyleSheet": "style", "Layout": "layout", "PrePaint": "paint",
         "Paint": "paint", "Layerize": "paint", "UpdateLayer": "paint", "ParseHTML": "parse html",
         "HitTest": "hit test", "MajorGC": "gc", "MinorGC": "gc"}


def summary(path: Path) -> dict:
    events = json.loads(path.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    main = defaultdict(int)
    for e in events:
        if e.get("name") == "thread_name" and e.get("args", {}).get("name") == "CrRendererMain":
            main[(e["pid"], e["tid"])] += 1
    # the renderer main thread with the most complete events
    count = defaultdict(int)
    for e in events:
        if (e.get("pid"), e.get("tid")) in main and e.get("ph") == "X":
            count[(e["pid"], e["tid"])] += 1
    if not count:
        return {"file": path.name, "error": "no renderer main thread"}
    thread = max(count, key=count.get)
    mine = [e for e in events if (e.get("pid"), e.get("tid")) == thread and e.get("ph") == "X" and "dur" in e]
    inputs = [e for e in mine if e["name"] == "EventDispatch" and e.get("args", {}).get("data", {}).get("type")
              in ("pointerdown", "mousedown", "keydown")]
    t0 = min((e["ts"] for e in inputs), default=min(e["ts"] for e in mine))
    mine = [e for e in mine if e["ts"] >= t0]
    end = max(e["ts"] + e["dur"] for e in mine)
    by_kind: dict[str, float] = defaultdict(float)
    # top-level only: an event inside another on the same thread is counted in its parent
    mine.sort(key=lambda e: (e["ts"], -e["dur"]))
    open_until = 0
    for e in mine:
        if e["ts"] >= open_until:
            by_kind[KINDS.get(e["name"], e["name"])] += e["dur"] / 1000
            open_until = e["ts"] + e["dur"]
    nested: dict[str, float] = defaultdict(float)
    for e in mine:
        if e["name"] in ("UpdateLayoutTree", "Layout", "Paint", "PrePaint", "ParseHTML"):
            nested[e["name"]] += e["dur"] / 1000
    calls = sorted((e for e in mine if e["name"] == "FunctionCall"), key=lambda e: -e["dur"])[:5]
    frames = [e for e in events if e.get("name") in ("WebSocketReceive", "WebSocketReceiveHandshakeResponse")
              and e.get("ts", 0) >= t0]
    return {"file": path.name, "span_ms": round((end - t0) / 1000, 1),
            "main_thread_ms": {k: round(v, 1) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1]) if v >= 0.5},
            "style_layout_paint_ms": {k: round(v, 1) for k, v in nested.items()},
            "longest_calls": [{"ms": round(c["dur"] / 1000, 1), "at_ms": round((c["ts"] - t0) / 1000, 1),
                               "source": (c.get("args", {}).get("data", {}).get("url", "") or "").rsplit("/", 1)[-1]
                               + f":{c.get('args', {}).get('data', {}).get('lineNumber', '')}"} for c in calls],
            "websocket_messages": [round((f["ts"] - t0) / 1000, 1) for f in frames if f["name"] == "WebSocketReceive"]}


def main(argv: list[str]) -> None:
    for name in argv:
        print(json.dumps(summary(Path(name)), ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
