"""Simulated healthy KPI systems: the noise families, a well-designed spec, and its data files.

A system has ``K`` KPIs, 4 levers and one disturbance over ``T`` weekly periods (two years by
default). Levers and the disturbance are random walks (their changes independent, standard
normal); each KPI's change is ``sum_j g_kj * lever_j change + g_d * disturbance change + noise
change``, the noise of its family rescaled so its changes have variance ``1 - sum g^2``: the
declared gains are then the true standardised gains of changes on changes (what MS205 tests).
One trigger (on k1, two periods in a row below the 10th percentile of its history). Targets are ambitious (2.5 noise units past today's level in the better direction) for single
series; for panels they sit inside the values (the 75th percentile, or 25th where lower is better, of the pooled values after the
target was set), since that is where a density test can look. The target takes effect (`since`)
halfway through the data.

Planted effects (``effect``) turn a healthy draw into one with a known problem:
``bunch05/10/20`` (5/10/20% of a panel KPI's values after the target moved from just short of
the target to just past it: drawn from the nearest 15/30/60% short of it), ``halve`` (the variance of a KPI's changes halved after the target
date), ``redundant`` (a KPI whose changes correlate at r = 0.95 with another's), ``wrong_gain``
(a declared gain of +0.5 on a lever that does not move the KPI), ``diverge`` (an output KPI
that improves by 3 noise units (SDs of its weekly changes) after its target while the outcomes it predicts do not),
``near_target`` (a KPI's target a quarter of the spread of its moves over one review period past
today's level: meeting it is luck, MS301), ``noisy_trigger`` (the trigger at the 40th percentile
of k1's history for 2 periods instead of the 10th: it fires on noise, MS302).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FAMILIES = ("iid", "ar05", "ar08", "ar095", "rw", "rw_drift", "trend", "seasonal_add", "seasonal_mult",
            "improvement", "panel_icc05", "panel_icc09", "panel_icc099", "coarse", "ragged")
PANELS = {"panel_icc05": 0.5, "panel_icc09": 0.9, "panel_icc099": 0.99, "coarse": 0.5}
EFFECTS = ("bunch05", "bunch10", "bunch20", "halve", "redundant", "wrong_gain", "diverge", "near_target",
           "noisy_trigger")
#: The family each planted effect is measured on (and the rule it is meant to trigger).
EFFECT_FAMILY = {"bunch05": "panel_icc05", "bunch10": "panel_icc05", "bunch20": "panel_icc05",
                 "halve": "iid", "redundant": "iid", "wrong_gain": "iid", "diverge": "iid", "near_target": "iid",
                 "noisy_trigger": "iid"}
EFFECT_RULE = {"bunch05": "MS401", "bunch10": "MS401", "bunch20": "MS401", "halve": "MS403",
               "redundant": "MS101", "wrong_gain": "MS205", "diverge": "MS402", "near_target": "MS301",
               "noisy_trigger": "MS302"}
#: What each planted effect is, in words (`msense explain` states the power with it).
EFFECT_ABOUT = {"bunch05": "5% of a panel KPI's values moved from just short of the target to just past it",
                "bunch10": "10% of a panel KPI's values moved from just short of the target to just past it",
                "bunch20": "20% of a panel KPI's values moved from just short of the target to just past it",
                "halve": "the variance of a KPI's changes halved from the date its target took effect",
                "redundant": "two KPIs whose changes correlate at r = 0.95",
                "wrong_gain": "a declared gain of 0.5 on a lever that does not move the KPI",
                "diverge": "an output KPI improving by 3 noise units after its target while its outcomes do not",
                "near_target": "a target a quarter of the KPI's usual move between reviews past today's level",
                "noisy_trigger": "a trigger at the 40th percentile of its KPI's history for 2 periods (firing in "
                                 "about a quarter of the periods)"}
#: The KPIs (indices, named `k0`, `k1`, ...) each effect is planted on: power counts a finding of
#: the effect's rule that names one of them, not one anywhere in the system.
EFFECT_KPIS = {"bunch05": (0,), "bunch10": (0,), "bunch20": (0,), "halve": (0,), "redundant": (0, 1),
               "wrong_gain": (0,), "diverge": (2,), "near_target": (0,), "noisy_trigger": (1,)}
START = dt.date(2025, 1, 6)  # a Monday
LEVERS = ("staffing", "training", "tooling", "outreach")
KINDS = ("input", "process", "output", "outcome")


@dataclass
class System:
    """One draw: the spec's text and the data (a wide or long table) it reads."""

    family: str
    k: int
    t: int
    values: np.ndarray  # (K, T) series, or (K, U, T) for a panel; NaN = missing
    levers: np.ndarray  # (4, T)
    disturbance: np.ndarray  # (T,)
    gains: np.ndarray  # (K, 4) true standardised gains
    declared: np.ndarray  # (K, 4) declared gains (differ from gains for `wrong_gain`)
    dist_gain: np.ndarray  # (K,)
    better: list[int]  # +1 higher is better, -1 lower
    kinds: list[str]
    targets: list[float]
    set_row: int
    integer: bool = False
    meta: dict = field(default_factory=dict)

    @property
    def panel(self) -> bool:
        return self.values.ndim == 3


def noise(family: str, rng: np.random.Generator, k: int, t: int, units: int = 20) -> np.ndarray:
    """Healthy noise of one family: (K, T), or (K, U, T) for panels (NaN for missing periods)."""
    e = rng.standard_normal((k, t))
    steps = np.arange(t)
    if family == "iid":
        return e
    if family.startswith("ar"):
        phi = {"ar05": 0.5, "ar08": 0.8, "ar095": 0.95}[family]
        return ar1(e, phi, rng)
    if family == "rw":
        return np.cumsum(e, axis=1)
    if family == "rw_drift":
        drift = rng.choice([-1, 1], size=(k, 1)) * 0.3
        return np.cumsum(e + drift, axis=1)
    if family == "trend":
        return e + rng.choice([-1, 1], size=(k, 1)) * 0.04 * steps
    if family == "seasonal_add":
        phase = rng.uniform(0, 2 * np.pi, size=(k, 1))
        return e + 2.0 * np.sin(2 * np.pi * steps / 52 + phase)
    if family == "seasonal_mult":  # winter volatility: the spread grows with the seasonal level
        season = 1 + 0.5 * np.cos(2 * np.pi * steps / 52)
        return 10 * season * np.exp(0.15 * e)
    if family == "improvement":  # defects falling 40 -> 8 a week, multiplicative (Poisson-like) noise
        level = 40 * (8 / 40) ** (steps / (t - 1))
        return level * np.exp(0.25 * e)
    if family in PANELS:
        icc = PANELS[family]
        a = rng.standard_normal((k, units, 1)) * np.sqrt(icc)
        return a + rng.standard_normal((k, units, t)) * np.sqrt(1 - icc)
    if family == "ragged":
        x = ar1(e, 0.5, rng)
        for i in range(k):
            x[i, :rng.integers(0, 40)] = np.nan
        x[rng.random((k, t)) < 0.1] = np.nan
        return x
    raise ValueError(f"unknown family {family!r}")


def ar1(e: np.ndarray, phi: float, rng: np.random.Generator) -> np.ndarray:
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi ** 2)  # stationary start
    for i in range(1, e.shape[1]):
        x[:, i] = phi * x[:, i - 1] + e[:, i]
    return x


def _design(k: int, rng: np.random.Generator):
    """Gains (each KPI moved by one or two levers, every lever by some KPI; an outcome KPI also
    by the lever of the output KPI before it, so the output predicts it), directions, kinds."""
    gains = np.zeros((k, len(LEVERS)))
    for i in range(k):
        gains[i, i % len(LEVERS)] = 0.5
        if KINDS[i % 4] == "outcome":  # an outcome follows the lever of the output before it (MS402's theory)
            gains[i, (i - 1) % len(LEVERS)] = 0.4
        elif i >= len(LEVERS):
            gains[i, (i + 1) % len(LEVERS)] = 0.3
    better = [1 if i % 3 else -1 for i in range(k)]
    gains *= np.array(better)[:, None]  # every lever improves every KPI it moves (no MS204)
    dist = np.array([0.2 if i % 2 else 0.0 for i in range(k)])
    kinds = [KINDS[i % 4] for i in range(k)]
    return gains, better, dist, kinds


def draw(family: str, seed: int, k: int = 10, t: int = 104, effect: str | None = None, units: int = 20) -> System:
    """One healthy system of ``family`` (with ``effect`` planted when given)."""
    rng = np.random.default_rng(seed)
    gains, better, dist_gain, kinds = _design(k, rng)
    declared = gains.copy()
    lev = np.cumsum(rng.standard_normal((len(LEVERS), t)), axis=1)
    dis = np.cumsum(rng.standard_normal(t))
    set_row = t // 2
    raw = noise(family, rng, k, t, units)
    if effect == "wrong_gain":
        gains[0] = 0.0  # the first KPI is moved by no lever, but declared to be
    if effect == "redundant":
        # KPI 1's noise changes correlate at 0.95 with KPI 0's, both with no lever or disturbance
        gains[:2] = 0.0
        declared[:2] = 0.0
        declared[0, 0], declared[1, 1] = 0.01 * better[0], 0.01 * better[1]  # keep `responds` (structure quiet)
        raw[1] = 0.95 * raw[0] + np.sqrt(1 - 0.95 ** 2) * raw[1]
        dist_gain[:2] = 0.0
    if family == "improvement":  # the level falls for a KPI where lower is better, rises otherwise
        raw = raw * -np.array(better, dtype=float)[:, None]
    panel = raw.ndim == 3
    common = gains @ np.diff(lev, axis=1, prepend=0) + dist_gain[:, None] * np.diff(dis, prepend=0)[None, :]
    common = np.cumsum(common, axis=1)  # (K, T)
    mean_noise = np.nanmean(raw, axis=1) if panel else raw
    values = np.empty_like(raw)
    sd_level = np.zeros(k)
    for i in range(k):
        d = np.diff(mean_noise[i])
        sd = np.nanstd(d[np.isfinite(d)], ddof=1) if np.isfinite(d).sum() > 2 else 1.0
        room = max(1 - float(np.sum(gains[i] ** 2)) - dist_gain[i] ** 2, 0.05)
        scale = np.sqrt(room) / sd if sd > 0 else 1.0
        base, unit = 50.0 + 10 * i, 5.0
        body = (raw[i] * scale + (common[i][None, :] if panel else common[i])) * unit + base
        values[i] = body
        sd_level[i] = unit  # one noise unit of changes, in the KPI's own units
    integer = family == "coarse"
    if integer:  # scores 1..7: the latent score rounded
        for i in range(k):
            z = (values[i] - np.nanmean(values[i])) / np.nanstd(values[i])
            values[i] = np.clip(np.round(4 + 1.2 * z), 1, 7)
    if effect == "halve":
        # the number is steered: the variance of the KPI's period-to-period changes (lever-driven
        # and noise alike) halved from the target date on, its level carried on from there
        d = np.diff(values[0])
        d[set_row - 1:] *= np.sqrt(0.5)
        values[0] = values[0][0] + np.concatenate([[0.0], np.cumsum(d)])
    if effect == "diverge":
        # KPI 2 is an output (kinds[2]); after its target it improves by 3 noise units that its
        # outcomes (KPIs 3 and 7) do not follow
        values[2, set_row:] += better[2] * 3.0 * sd_level[2]
    targets = []
    for i in range(k):
        if panel:
            after = values[i][:, set_row:].ravel()
            after = after[np.isfinite(after)]
            q = 75 if better[i] > 0 else 25
            target = float(np.percentile(after, q))
            if integer:
                target = float(np.round(target)) + (0.5 if better[i] > 0 else -0.5)
                target = float(np.clip(target, 1.5, 6.5))
        else:
            series = values[i][np.isfinite(values[i])]
            level = float(np.median(series[-3:]))
            d = np.diff(series)
            noise_unit = 1.4826 * float(np.median(np.abs(d - np.median(d))))
            target = level + better[i] * 2.5 * max(noise_unit, 1e-9)
            if effect == "near_target" and i == 0:
                # a quarter of the spread of its moves over one review period (a month: 4 weeks)
                moves = series[4:] - series[:-4]
                target = level + better[i] * 0.25 * float(np.std(moves - moves.mean(), ddof=1))
        targets.append(round(target, 3))
    if effect and effect.startswith("bunch"):
        share = int(effect[5:]) / 100
        _bunch(values[0], targets[0], better[0], set_row, share, rng, integer)
    return System(family, k, t, values, lev, dis, gains, declared, dist_gain, better, kinds, targets, set_row,
                  integer, {"effect": effect, "seed": seed})


def _bunch(block: np.ndarray, target: float, better: int, set_row: int, share: float, rng, integer: bool) -> None:
    """Move ``share`` of the values after the target from just short of it to just past it."""
    block = block if block.ndim == 2 else block[None, :]
    after = block[:, set_row:]
    flat = after.ravel()
    finite = np.flatnonzero(np.isfinite(flat))
    n = int(round(share * finite.size))
    short = finite[(flat[finite] - target) * better < 0]
    # the values that move are drawn from the nearest 3n short of the target (people who just
    # missed it), so a thinner density stays on that side, as in real bunching
    near = short[np.argsort(np.abs(flat[short] - target))][:3 * n]
    nearest = rng.choice(near, size=min(n, near.size), replace=False)
    spread = np.nanstd(flat) * 0.1
    if integer:
        flat[nearest] = target + better * 0.5
    else:
        flat[nearest] = target + better * rng.uniform(0, spread, nearest.size)
    block[:, set_row:] = flat.reshape(after.shape)


# ---- writing the spec and its data ---------------------------------------------------------------

def week(i: int) -> str:
    return (START + dt.timedelta(weeks=i)).isoformat()


def spec_text(s: System, data_file: str | None) -> str:
    """A well-designed spec for ``s``: mission, owned levers, failures at every level, each KPI
    linked, guarding a failure, moved by declared levers, with a dated target and a review."""
    out = []
    if data_file:
        out.append(f'data "{data_file}"' + (' layout long segment "unit"' if s.panel else "") + "\n")
    out.append('mission "People get what they came for, well and on time" {\n'
               '  why "The team exists to serve them."\n  owner "team lead"\n}\n')
    for name in LEVERS:
        out.append(f'lever {name} "{name.capitalize()} per week" owner "team lead"')
    out.append('disturbance demand "Demand from outside"\n')
    for kind in KINDS:
        out.append(f'failure f_{kind} "Things go wrong at the {kind}" at {kind}')
    since = week(s.set_row)
    for i in range(s.k):
        kind = s.kinds[i]
        cmp = ">=" if s.better[i] > 0 else "<="
        guards = f"f_{kind}" + (", f_output" if kind == "outcome" else "")
        responds = ", ".join(f"{LEVERS[j]} {s.declared[i, j]:+g}" for j in range(len(LEVERS)) if s.declared[i, j])
        lines = [f'kpi k{i} "KPI number {i}" {{', f"  kind {kind}"]
        if i == 3:
            lines.append("  focus relationships")
        lines += [f"  better {'higher' if s.better[i] > 0 else 'lower'}", '  unit "points"', '  owner "team lead"',
                  f"  target {cmp} {s.targets[i]:g} by 2027-12-31 since {since}",
                  f'  link "KPI {i} shows whether the mission is served"', f"  guards {guards}",
                  f"  responds {responds}"]
        if s.dist_gain[i]:
            lines.append(f"  disturbed demand {s.dist_gain[i]:+g}")
        lines += ["  review every 1 month", "}"]
        out.append("\n".join(lines) + "\n")
    # one trigger, on k1 (higher is better): two periods in a row below the 10th percentile of
    # its history (per unit-period for a panel): a slip worth a conversation, neither never nor always
    level = s.values[1].ravel()
    floor = float(np.percentile(level[np.isfinite(level)], 40 if s.meta.get("effect") == "noisy_trigger" else 10))
    if s.integer:  # whole scores: between two scores, so `<` holds on about 10% (not on a tie)
        floor = float(np.floor(floor)) + 0.5
    out.append(f"trigger k1_slip when k1 < {floor:.3f} for 2 periods {{\n"
               '  ask "What made k1 slip these two weeks, and what would help?"\n  with one-to-one\n}\n')
    return "\n".join(out) + "\n"


def write(s: System, folder: Path) -> Path:
    """The spec and its data (wide CSV, or long with a `unit` column for a panel) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    fmt = (lambda v: "" if not np.isfinite(v) else (f"{v:.0f}" if s.integer else f"{v:.4f}"))
    with open(folder / "data.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        if not s.panel:
            w.writerow(["period", *(f"k{i}" for i in range(s.k)), *LEVERS, "demand"])
            for t in range(s.t):
                w.writerow([week(t), *(fmt(s.values[i, t]) for i in range(s.k)),
                            *(f"{s.levers[j, t]:.4f}" for j in range(len(LEVERS))), f"{s.disturbance[t]:.4f}"])
        else:
            w.writerow(["period", "unit", "series", "value"])
            for t in range(s.t):
                for i in range(s.k):
                    for u in range(s.values.shape[1]):
                        v = s.values[i, u, t]
                        if np.isfinite(v):
                            w.writerow([week(t), f"u{u:02d}", f"k{i}", fmt(v)])
                # levers and the disturbance are the same for every unit: one row each, unit u00
                for j, name in enumerate(LEVERS):
                    w.writerow([week(t), "u00", name, f"{s.levers[j, t]:.4f}"])
                w.writerow([week(t), "u00", "demand", f"{s.disturbance[t]:.4f}"])
    path = folder / "system.msense"
    path.write_text(spec_text(s, "data.csv"))
    return path
