"""Shared fixtures. With CI=true a missing optional dependency fails instead of skipping."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from support import EXAMPLES, GROUPS, IN_CI, PG_PASSWORD, require, run_msense  # noqa: F401

# CI runs the property tests on a fixed sequence of examples (reproducible failures, no flakes);
# locally Hypothesis explores new examples on every run.
try:
    from hypothesis import settings as _settings

    _settings.register_profile("ci", derandomize=True, print_blob=True)
    if IN_CI:
        _settings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass


@pytest.fixture
def msense():
    return run_msense


@pytest.fixture
def no_config():
    """An empty configuration, so the repository's own pyproject.toml is never picked up."""
    return {}


# ---- a real PostgreSQL server on loopback, for the data tests --------------------------------


def _pg_bin() -> Path | None:
    import glob

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    import shutil

    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="session")
def postgres_url():
    """A private PostgreSQL cluster on 127.0.0.1 with the example KPI data loaded; its URL uses
    `${PGPASSWORD}` (set in the environment for the test session)."""
    import pwd
    import shutil
    import socket
    import tempfile

    bin_dir = _pg_bin()
    if bin_dir is None:
        if IN_CI:
            pytest.fail("PostgreSQL is required in CI (make test installs it)")
        pytest.skip("PostgreSQL is not installed")
    psycopg = require("psycopg")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="msense-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use its own account
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    pwfile = folder / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    if as_user:
        os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = folder / "data"
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "msense", "--auth=md5",
                    f"--pwfile={pwfile}", "-E", "UTF8"], check=True, capture_output=True)
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"),
                    "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    url = f"postgresql://msense:{PG_PASSWORD}@127.0.0.1:{port}/postgres"
    try:
        import csv

        with psycopg.connect(url) as conn:
            with conn.cursor() as cur:
                rows = list(csv.DictReader((EXAMPLES / "customer-love" / "data" / "kpis.csv").open()))
                cols = list(rows[0])
                cur.execute("CREATE TABLE kpis (period date PRIMARY KEY, "
                            + ", ".join(f'"{c}" double precision' for c in cols[1:]) + ")")
                with cur.copy("COPY kpis FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([row["period"]] + [row[c] or None for c in cols[1:]])
            conn.commit()
        os.environ["PGPASSWORD"] = PG_PASSWORD
        yield f"postgresql://msense:${{PGPASSWORD}}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


# ---- a headless Chromium, for the tests that open HTML reports -----------------------------------

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (Playwright) with no network chatter; skipped locally without one."""
    import shutil

    require("playwright")
    from playwright.sync_api import sync_playwright

    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not exe:
        if IN_CI:
            pytest.fail("chromium is required in CI (make test installs it)")
        pytest.skip("chromium is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                    "--disable-background-networking", "--disable-component-update",
                                    "--disable-sync"])
        yield b
        b.close()


# ---- a survey with suppressed groups, for the confidentiality tests ----------------------------


@pytest.fixture
def confidential_spec(tmp_path):
    """A team spec whose survey has a group below the minimum and one hidden with it (see support.GROUPS)."""
    lines = ["period,group,manager_id,role,question,score"]
    for group, (manager, own, team) in GROUPS.items():
        lines.append(f"2026-03-31,{group},{manager},manager,managers,{own}")
        lines += [f"2026-03-31,{group},{manager},team,team,{s}" for s in team]
    (tmp_path / "survey.csv").write_text("\n".join(lines) + "\n", "utf-8")
    (tmp_path / "kpis.csv").write_text("period,mv\n" + "".join(
        f"2026-0{m}-28,{v}\n" for m, v in zip(range(1, 10), [3.9, 3.8, 3.2, 3.1, 3.5, 3.7, 3.2, 3.1, 3.6])), "utf-8")
    path = tmp_path / "team.msense"
    path.write_text(
        'mission "Managers who help their people grow"\n'
        'data "kpis.csv"\n'
        'kpi mv "Value my manager brings" { scope team\n target >= 3.8 by 2027-01-01 }\n'
        'trigger mv_low when mv < 3.3 for 2 periods {\n  ask "What would make one-to-ones more useful?"\n  with team\n}\n'
        'trust value_question {\n'
        '  managers "What value are you bringing to each team member?"\n'
        '  team     "What value did your manager bring to your team?"\n'
        '  scale 1..5\n  data "survey.csv"\n  gap > 1.0\n  min_group 5\n}\n', "utf-8")
    return path
