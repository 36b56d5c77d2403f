"""Python's cycle collector, paused while a phase builds objects that all live on, and the
objects a check has made so far frozen out of its full passes while the check runs.

Reading a spec and its data and writing the JSON report make millions of small objects (spans,
model nodes, arrays, dicts) that are not garbage; the cycle collector still walks them, again
and again as they pile up: a third of the time of reading a 10,000-KPI spec and its data, and of
writing its report. Paused, each phase runs its own code only; the collector resumes (when it
was running) as the phase ends, and finds whatever cycles the phase left.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """The cycle collector off for the ``with`` block (or the decorated function), then back as it was."""
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


@contextmanager
def frozen() -> Iterator[None]:
    """The objects made so far (a spec's nodes: millions at 10,000 KPIs) left out of the cyclic
    collector's full passes while the data are read and the evaluators run, handed back after:
    each full pass walked them all (about a second of a 10,000-KPI check). Left alone when some
    objects are frozen already (by the caller, or by a check in another thread): ``gc.unfreeze``
    hands back every frozen object, the caller's too."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
