"""The `msense` command line: a thin layer over metricsense.check and the registry."""

from __future__ import annotations

import sys
from typing import Any
from pathlib import Path

import click

from metricsense.cli_support import (  # noqa: F401 - _usage_error, _write_file are used below
    ProgressBar, _SegmentSpool, _usage_error, _write_file, fmt_failure, keep_line_ends,
)
from metricsense.version import __version__


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _disabled(plugin_flags: tuple[str, ...]) -> list[str]:
    out = []
    for flag in plugin_flags:
        if not flag.startswith("no:"):
            raise click.BadParameter(f"expected `no:NAME` to switch a plugin off, got {flag!r}", param_hint="-p")
        out.append(flag[3:])
    return out


_plugin_option = click.option(
    "-p", "plugin_flags", multiple=True, metavar="no:NAME",
    help="Switch a plugin off (repeatable); `no:all` switches off every third-party plugin.",
)


def _manager(plugin_flags: tuple[str, ...] = ()):
    from metricsense.plugins import get_plugin_manager

    return get_plugin_manager(disabled=_disabled(plugin_flags))


class _Group(click.Group):
    """The msense group; plugins add subcommands through metricsense_register_commands."""

    _loaded = False

    def _load_plugin_commands(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        try:
            pm, _ = _manager()
            pm.hook.metricsense_register_commands(cli=self)
        except Exception as exc:  # a broken plugin never takes the CLI down
            click.echo(f"msense: a plugin failed to add its commands: {type(exc).__name__}: {exc}", err=True)

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._load_plugin_commands()
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx):
        self._load_plugin_commands()
        return super().list_commands(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="msense")
def cli() -> None:
    """metricsense: a linter and explorer for KPI systems."""


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--format", "fmt", default="text", show_default=True, metavar="NAME",
              help="Output format: text, json, sarif, junit, github, gitlab, markdown, html (and those plugins add; "
                   "see `msense plugins`).")
@click.option("--select", multiple=True, metavar="RULES", help="Only these rules (codes, prefixes or names).")
@click.option("--ignore", multiple=True, metavar="RULES", help="Leave these rules out.")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info", "hint", "never"]),
              help="Exit 1 when a finding is at least this severe [default: warning].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str),
              help="A msense.toml or pyproject.toml to use instead of the nearest one.")
@click.option("--allow-path", "allow_paths", multiple=True, type=click.Path(path_type=str), metavar="DIR",
              help="Let specs read (include, data) from this folder too.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even with findings (spec errors and crashes still fail).")
@click.option("--color/--no-color", default=None, help="Colour the text output [default: when a terminal].")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), help="Write the report here.")
@click.option("--by", metavar="COLUMN", help="Check every segment (a column of the data: team, store) on its own.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N",
              help="Check segments in N worker processes [default: 1, or `jobs` in the config].")
@click.option("--scheduler", metavar="ADDRESS",
              help="Check segments on this Dask scheduler (tcp://host:8786); workers read their own data.")
@click.option("--changed", is_flag=True,
              help="PATHS are changed files (pre-commit): check the specs that include them or read them.")
@click.option("--baseline", "baseline", type=click.Path(dir_okay=False, path_type=str), metavar="FILE",
              help="Report only findings not in this baseline (written by --write-baseline).")
@click.option("--write-baseline", "write_baseline", type=click.Path(dir_okay=False, path_type=str), metavar="FILE",
              help="Write the findings of this run as a baseline (personal findings are never written).")
@click.option("--show-personal", is_flag=True, default=False,
              help="Show findings about one named person (MS501) in text, HTML and JSON; "
                   "SARIF, JUnit, GitHub and Markdown never show them.")
@click.option("--analysis", "analysis_form", type=click.Choice(["compact", "full"]),
              help="How the JSON report writes the analysis: compact (each matrix as the entries that matter, "
                   "linear in the KPIs; the HTML report draws a matrix of more than 60 rows or columns in blocks) "
                   "or full (every matrix whole, cell by cell) [default: compact, or `analysis` in the config].")
@_plugin_option
def check(paths, fmt, select, ignore, fail_on, config_path, allow_paths, exit_zero, color, output, by, jobs,
          scheduler, changed, baseline, write_baseline, show_personal, analysis_form, plugin_flags):
    """Check specs (.msense files, folders, Markdown with ```msense blocks; `-` reads a spec from
    standard input). With no PATHS, the current folder is checked."""
    from metricsense.engine import check as run_check
    from metricsense.engine import spec_files
    from metricsense.registry import build_registry

    pm, problems = _manager(plugin_flags)
    registry = build_registry(pm)
    if fmt not in registry.formats:
        raise click.BadParameter(f"unknown format {fmt!r}; expected one of {', '.join(sorted(registry.formats))}",
                                 param_hint="--format")
    for option, refs in (("--select", select), ("--ignore", ignore)):
        for ref in _split(refs):
            if not registry.matching(ref):
                raise click.BadParameter(f"{ref!r} matches no rule (see `msense rules`)", param_hint=option)
    if changed:
        from metricsense.changed import specs_for

        paths = tuple(specs_for(list(paths), Path.cwd()))
        if not paths:
            click.echo("msense: no spec uses the changed files: nothing to check", err=True)
            sys.exit(0)
    paths = tuple(paths) or (".",)
    target: Any = list(paths)
    if paths == ("-",):
        target = sys.stdin.read()
        if "\n" not in target:
            target += "\n"  # a one-line spec is text, never a path
    elif "-" in paths:
        _usage_error("`-` (a spec from standard input) cannot be given with other paths")
    else:
        found, missing = spec_files(list(paths))
        if not found and not missing:
            click.echo(f"msense: no spec found in {', '.join(paths)} (no *.msense file, and no Markdown with an "
                       "```msense block): nothing was checked", err=True)
            sys.exit(2)
    if (jobs or scheduler) and not by:
        _usage_error("`--jobs` and `--scheduler` check segments in parallel: add `--by COLUMN`")
    if jobs and scheduler:
        _usage_error("give `--jobs N` (processes here) or `--scheduler ADDRESS` (a Dask cluster), not both")
    overrides = {}
    if select:
        overrides["select"] = _split(select)
    if ignore:
        overrides["ignore"] = _split(ignore)
    if fail_on:
        overrides["fail_on"] = fail_on
    if show_personal:
        overrides["show_personal"] = True
    if analysis_form:
        overrides["analysis"] = analysis_form
    bar = _progress_bar()
    if color is None:
        color = _colour_wanted(output is None and sys.stdout.isatty())
    # Segmented runs in text or JSON stream each segment's result to disk as it arrives, so
    # memory stays flat however many segments there are; other formats need the whole report.
    from metricsense import cli_support

    known = cli_support.read_baseline(baseline) if baseline else None
    # a baseline compares every finding: segments' findings are then kept, not streamed
    stream = _SegmentSpool(fmt, color, registry) if fmt in ("text", "json") and not (baseline or write_baseline) \
        else None
    try:
        report = run_check(
            target, config=config_path, allow_paths=[Path(p) for p in allow_paths],
            plugin_manager=pm, overrides=overrides, plugin_problems=problems, progress=bar,
            disabled_plugins=_disabled(plugin_flags), by=by, jobs=jobs, scheduler=scheduler,
            on_segment=stream.add if stream else None, keep_segments=stream is None,
        )
    finally:
        if bar is not None:
            bar.close()
    if write_baseline:
        cli_support.write_baseline(write_baseline, report)
    if known is not None:
        report, hidden = cli_support.without_baseline(report, known)
        if hidden:
            click.echo(f"msense: {hidden} finding{'s' if hidden != 1 else ''} in the baseline "
                       f"{'are' if hidden != 1 else 'is'} not shown ({baseline})", err=True)
    render, _plugin = registry.formats[fmt]
    try:
        out = open(output, "w", encoding="utf-8") if output else None
    except OSError as exc:
        click.echo(f"msense: cannot write {output}: {exc.strerror}", err=True)
        sys.exit(2)
    try:
        if report.segments is not None and stream is not None:
            for chunk in _joined(stream.chunks(report)):
                _write(chunk, out, color)
        else:
            _write(render(report, {"color": color}), out, color)
    except OSError as exc:
        click.echo(f"msense: cannot write {output}: {exc.strerror}", err=True)
        sys.exit(2)
    finally:
        if out is not None:
            out.close()
    code = report.exit_code
    if exit_zero and code == 1:
        code = 0
    sys.exit(code)


def _colour_wanted(terminal: bool) -> bool:
    """Colour when writing to a terminal, unless NO_COLOR is set (no-color.org); FORCE_COLOR
    asks for it anywhere. An explicit --color/--no-color wins over both."""
    import os

    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return terminal


def _joined(chunks, size: int = 1 << 18):
    """The chunks joined into pieces of about ``size`` characters (one write each, not one per finding)."""
    held: list[str] = []
    n = 0
    for chunk in chunks:
        held.append(chunk)
        n += len(chunk)
        if n >= size:
            yield "".join(held)
            held, n = [], 0
    if held:
        yield "".join(held)


def _write(text: str, out, color: bool) -> None:
    if out is not None:
        out.write(text)
    else:
        click.echo(text, nl=False, color=color)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_plugin_option
def rules(fmt, plugin_flags):
    """List every rule: code, name, default severity and summary."""
    from metricsense.registry import build_registry

    registry = build_registry(_manager(plugin_flags)[0])
    items = sorted(registry.rules.values(), key=lambda r: r.code)
    if fmt == "json":
        import json

        click.echo(json.dumps([
            {"code": r.code, "name": r.name, "severity": str(r.severity), "summary": r.summary,
             "plugin": r.plugin, "options": {k: o.default for k, o in r.options.items()},
             **({"personal": True} if r.personal else {})}
            for r in items
        ], indent=2))
        return
    width = max((len(r.name) for r in items), default=10)
    for r in items:
        click.echo(f"{r.code}  {r.name:<{width}}  {str(r.severity):<7}  {r.summary}")


def _progress_bar():
    """A progress bar on standard error when it is a terminal; None for piped or redirected output."""
    return ProgressBar() if sys.stderr.isatty() else None


@cli.command()
@click.argument("rule_ref", metavar="CODE")
def explain(rule_ref):
    """Explain a rule: why it matters, an example, and what to do instead."""
    from metricsense.registry import build_registry

    registry = build_registry(_manager()[0])
    rule = registry.get(rule_ref)
    if rule is None:
        close = [r.code for r in registry.matching(rule_ref)]
        hint = f" (rules starting so: {', '.join(close)})" if close else ""
        click.echo(f"msense: no rule {rule_ref!r}{hint}; `msense rules` lists them", err=True)
        sys.exit(2)
    click.echo(f"# {rule.code} {rule.name}\n")
    click.echo(f"{rule.summary}\n")
    click.echo(f"Default severity: {rule.severity}. From: {rule.plugin}.\n")
    if rule.personal:
        click.echo("Personal: each finding names one person. Shown in the agenda's private section, and in "
                   "text, HTML and JSON with --show-personal; SARIF, JUnit, GitHub and Markdown only count them.\n")
    if rule.explanation:
        click.echo(rule.explanation + "\n")
    from metricsense.calibrated import measured

    if (text := measured(rule.code)) is not None:
        click.echo(text + "\n")
    if rule.options:
        click.echo("## Options")
        for name, opt in rule.options.items():
            click.echo(f"- `{name}` (default {opt.default!r}): {opt.help}")
        click.echo(f"\nSet them under `[rules.{rule.code}]` in msense.toml, or `[tool.metricsense.rules.{rule.code}]` in pyproject.toml.")


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_plugin_option
def plugins(fmt, plugin_flags):
    """List the plugins: version, the hooks they implement and the rules they register."""
    from metricsense.plugins import plugin_versions
    from metricsense.registry import build_registry

    pm, problems = _manager(plugin_flags)
    registry = build_registry(pm)
    versions = plugin_versions()
    rows = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        rows.append({
            "name": name,
            "version": versions.get(name, f"metricsense {__version__}"),
            "builtin": name.startswith("metricsense."),
            "hooks": hooks,
            "rules": sorted(r.code for r in registry.rules.values() if r.plugin == name),
            "formats": sorted(f for f, (_, p) in registry.formats.items() if p == name),
            "analyses": sorted(a for a, (_, p) in registry.analyses.items() if p == name),
        })
    rows.sort(key=lambda r: (not r["builtin"], r["name"]))
    broken = [{"name": p.subject, "problem": p.detail} for p in (*problems, *registry.problems)]
    if fmt == "json":
        import json

        click.echo(json.dumps({"plugins": rows, "problems": broken}, indent=2))
    else:
        for row in rows:
            click.echo(f"{row['name']} ({row['version']})")
            click.echo(f"  hooks: {', '.join(row['hooks']) or '-'}")
            if row["rules"]:
                click.echo(f"  rules: {', '.join(row['rules'])}")
            if row["formats"]:
                click.echo(f"  formats: {', '.join(row['formats'])}")
            if row["analyses"]:
                click.echo(f"  analyses: {', '.join(row['analyses'])}")
        for b in broken:
            click.echo(f"BROKEN {b['name']}: {b['problem']}")
    sys.exit(3 if broken else 0)


@cli.command()
@click.argument("path", default=None, required=False, type=click.Path(path_type=str))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--plugin", "plugin", metavar="NAME",
              help="Write an evaluator plugin package metricsense-plugin-NAME (in PATH, default here).")
def init(path, force, plugin):
    """Write a commented starter spec (default: kpis.msense), or with --plugin a plugin package."""
    from importlib import resources

    if plugin is not None:
        from metricsense import scaffold

        try:
            root = scaffold.write(plugin, Path(path or "."), force)
        except (ValueError, OSError) as exc:
            click.echo(f"msense: {exc}", err=True)
            sys.exit(2)
        click.echo(f"wrote {root}; now run: pip install -e '{root}[test]' && pytest {root}")
        return
    path = path or "kpis.msense"

    target = Path(path)
    if target.exists() and not force:
        click.echo(f"msense: {path} exists; use --force to overwrite it", err=True)
        sys.exit(2)
    text = resources.files("metricsense").joinpath("starter.msense").read_text("utf-8")
    try:
        target.write_text(text, "utf-8")
    except OSError as exc:
        click.echo(f"msense: cannot write {path}: {exc.strerror}", err=True)
        sys.exit(2)
    click.echo(f"wrote {path}; now run: msense check {path}")


@cli.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would be reformatted.")
@click.option("--diff", "show_diff", is_flag=True, help="Change nothing; print a unified diff of the changes.")
def fmt_command(paths, check_only, show_diff):
    """Format specs (and ```msense fences in Markdown) in the canonical style, in place (`-`:
    standard input to standard output). With no PATHS, the current folder. A file keeps its line
    endings (CRLF stays CRLF)."""
    import difflib

    from metricsense.engine import spec_files
    from metricsense.syntax.fmt import FormatError, format_file_text

    paths = tuple(paths) or (".",)
    if "-" in paths:
        if paths != ("-",):
            _usage_error("`-` (a spec from standard input) cannot be given with other paths")
        raw = sys.stdin.read()
        try:
            new = keep_line_ends(raw, lambda text: format_file_text(text, "<stdin>"))
        except (FormatError, RecursionError) as exc:
            click.echo(f"msense fmt: <stdin>: {fmt_failure(exc)}", err=True)
            sys.exit(2)
        if show_diff:
            click.echo("".join(difflib.unified_diff(raw.splitlines(True), new.splitlines(True), "<stdin>",
                                                    "<stdin>")), nl=False)
        elif not check_only:
            click.echo(new, nl=False)
        sys.exit(1 if (check_only or show_diff) and new != raw else 0)
    files, missing = spec_files(list(paths))
    code = 2 if missing else 0
    for name, why in missing:
        click.echo(f"msense fmt: {name}: {why}", err=True)
    changed = failed = 0
    for path in files:
        try:
            raw = path.read_bytes().decode("utf-8")
            new = keep_line_ends(raw, lambda text: format_file_text(text, str(path)))
        except (OSError, UnicodeDecodeError, FormatError, RecursionError) as exc:
            click.echo(f"msense fmt: {path.as_posix()}: {fmt_failure(exc)}", err=True)
            code, failed = 2, failed + 1
            continue
        if new == raw:
            continue
        changed += 1
        if show_diff:
            shown = path.as_posix()
            names = (shown, shown) if path.is_absolute() else (f"a/{shown}", f"b/{shown}")
            click.echo("".join(difflib.unified_diff(raw.splitlines(True), new.splitlines(True), *names)), nl=False)
        if check_only:
            if not show_diff:
                click.echo(f"would reformat {path.as_posix()}", err=True)
        elif not show_diff:
            path.write_bytes(new.encode("utf-8"))  # as formatted: its own line ends, no translation
            click.echo(f"reformatted {path.as_posix()}", err=True)
    verb = "would be reformatted" if check_only or show_diff else "reformatted"
    failures = f", {failed} could not be formatted" if failed else ""
    click.echo(f"{changed} file{'s' if changed != 1 else ''} {verb}, {len(files) - changed - failed} unchanged"
               f"{failures}.", err=True)
    if code == 0 and (check_only or show_diff) and changed:
        code = 1
    sys.exit(code)


@cli.command("diff")
@click.argument("old", type=click.Path(exists=True, path_type=str))
@click.argument("new", type=click.Path(exists=True, path_type=str))
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str),
              help="A msense.toml or pyproject.toml to use for both checks.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), help="Write the result here.")
def diff_command(old, new, fmt, config_path, output):
    """What a change to a KPI system does: KPIs, levers, conditioning, coverage, findings."""
    from metricsense import diff as msdiff
    from metricsense.engine import check as run_check

    from metricsense.engine import over_files

    bar = _progress_bar()
    try:  # one bar over both checks
        before = run_check([old], config=config_path, progress=over_files(bar, 0, 2))
        after = run_check([new], config=config_path, progress=over_files(bar, 1, 2))
    finally:
        if bar is not None:
            bar.close()
    # NOTE: a spec that does not parse has no KPIs to compare: every KPI would look removed.
    for name, report in ((old, before), (new, after)):
        broken = [d for d in report.diagnostics if d.code in ("MS001", "MS004")]
        if broken:
            d = broken[0]
            click.echo(f"msense diff: {name} cannot be read ({d.span.file}:{d.span.line}:{d.span.column}: "
                       f"{d.code} {d.message}); nothing is compared", err=True)
            sys.exit(2)
        # NOTE: a folder of several specs: the first of each was compared with the other's first
        specs = list(report.documents)
        if len(specs) != 1:
            held = (f"holds {len(specs)} specs ({', '.join(specs[:5])}{', ...' if len(specs) > 5 else ''})"
                    if specs else "holds no spec")
            click.echo(f"msense diff: {name} {held}; diff compares one spec with another: name the files; "
                       "nothing is compared", err=True)
            sys.exit(2)
    result = msdiff.diff_reports(before, after, old, new)
    text = msdiff.render_json(result) if fmt == "json" else msdiff.render_markdown(result)
    if output:
        _write_file(output, text)
    else:
        click.echo(text, nl=False)
    sys.exit(max(2 if c >= 2 else 0 for c in result["exit_code"].values()))


@cli.command("agenda")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--since", metavar="PERIOD",
              help="Only conversations sparked on or after this period (2026-01-05, 2026-01, 2026-Q1, 2026-W02, 2026).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str),
              help="Use this msense.toml or pyproject.toml instead of searching for one.")
@click.option("--allow-path", "allow_paths", multiple=True, type=click.Path(path_type=str), metavar="DIR",
              help="Also allow includes and data from this folder (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), help="Write the agenda here.")
def agenda_command(paths, since, config_path, allow_paths, fmt, output):
    """Write the conversation agenda: what the triggers and trust gaps ask people to talk about."""
    import json

    from metricsense.agenda import build, since_problem
    from metricsense.engine import check as run_check

    if since_problem(since) is not None:  # a user's mistake: said before any work, exit 2
        raise click.BadParameter(since_problem(since), param_hint="'--since'")
    bar = _progress_bar()
    try:
        report = run_check(list(paths), config=config_path, allow_paths=allow_paths, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    result = build(report, since=since)
    text = json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n" if fmt == "json" else result.to_markdown()
    if output:
        _write_file(output, text)
    else:
        click.echo(text, nl=False)
    if report.exit_code >= 2:  # the agenda may be incomplete: say why, on stderr
        for d in [d for d in report.diagnostics if d.severity.name == "ERROR"][:20]:
            click.echo(f"msense: {d.span}: {d.code} {d.message}", err=True)
    sys.exit(report.exit_code if report.exit_code >= 2 else 0)


@cli.command("select")
@click.argument("path", type=click.Path(path_type=str))  # `-`: standard input
@click.option("--size", type=click.IntRange(min=1), metavar="N",
              help="How many KPIs to hold at their targets [default: as many as the levers].")
@click.option("--top", type=click.IntRange(min=1, max=1000), default=5, show_default=True, metavar="K",
              help="How many of the best sets to show.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--allow-path", "allow_paths", multiple=True, type=click.Path(path_type=str), metavar="DIR",
              help="Also allow includes and data from this folder (repeatable).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Stop the search after this long and show the best sets found so far (large specs) "
                   "[default: search to the end].")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), help="Write the result here.")
def select_command(path, size, top, fmt, allow_paths, time_limit, output):
    """Choose the KPIs to hold at their targets: the sets that lose least when disturbances and noise hit."""
    from metricsense.reports import selection as render
    from metricsense.selection import SelectError
    from metricsense.selection.run import Unreadable, select_spec

    target = path
    if path == "-":  # as check and fmt: the spec from standard input
        target = sys.stdin.read()
        if "\n" not in target:
            target += "\n"  # a one-line spec is text, never a path
    try:
        result = select_spec(target, size=size, top=top, allow_paths=allow_paths, time_limit=time_limit)
    except Unreadable as exc:
        for p in exc.problems[:20]:
            click.echo(f"msense select: {p.span}: {p.message}", err=True)
        sys.exit(2)
    except SelectError as exc:
        click.echo(f"msense select: {exc.span}: {exc.message}", err=True)
        if exc.help:
            click.echo(f"  help: {exc.help}", err=True)
        sys.exit(2)
    text = {"json": render.render_json, "markdown": render.render_markdown}.get(fmt, render.render_text)(result)
    if output:
        _write_file(output, text)
    else:
        click.echo(text, nl=False)


@cli.command("lsp")
@click.option("--tcp", metavar="HOST:PORT", help="Serve on this TCP address instead of standard input and output.")
@click.option("--stdio", is_flag=True, hidden=True, help="Serve on standard input and output (the default).")
def lsp_command(tcp, stdio):
    """Start the language server (editors start it): diagnostics as you type, hover, completion, rename."""
    if tcp is not None:
        host, _, port = tcp.rpartition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            _usage_error(f"`--tcp` takes HOST:PORT (127.0.0.1:2087), not {tcp!r}")
    try:
        from metricsense.lsp.server import main as serve
    except ImportError as exc:  # NOTE: pygls is an extra; say how to get it, not a traceback
        if (exc.name or "").split(".")[0] not in ("pygls", "lsprotocol"):
            raise
        _usage_error("the language server needs the `lsp` extra: pip install 'metricsense[lsp]'")
    serve(tcp)


#: The BLAS libraries' thread pools (OpenBLAS, MKL): one thread for a command-line check.
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: The compiled kernel's OpenMP threads sleep between parallel loops instead of spinning.
OMP_WAIT = ("OMP_WAIT_POLICY", "PASSIVE")


def thread_defaults() -> None:
    """A check's linear algebra is many small products and solves (a KPI's regression on its
    levers, 104 x 51), for which BLAS's thread pool costs more than it gives, and on a busy machine
    its spinning threads took the cores from the work (a 500-KPI check: 4.7 s of CPU with one BLAS
    thread, 12.6 s with two, wall 9.9 s against 18.2 s, under load; benchmarks/README.md). So the CLI asks
    for one, before NumPy is loaded, unless the environment already says how many threads
    (OPENBLAS_NUM_THREADS, MKL_NUM_THREADS or OMP_NUM_THREADS). The compiled
    kernel's own OpenMP threads (OMP_NUM_THREADS) are left to size themselves by the work, but
    wait passively: libgomp's threads spin after each parallel loop, and a 2,000-KPI check took
    11.5 s of CPU (12.8 s wall) spinning against 5.8 s (6.5 s) passive, on a busy machine."""
    import os

    if not any(name in os.environ for name in (*BLAS_THREADS, "OMP_NUM_THREADS")):
        for name in BLAS_THREADS:  # NOTE: a user's OMP_NUM_THREADS also governs MKL: left to it
            os.environ[name] = "1"
    os.environ.setdefault(*OMP_WAIT)


def main() -> None:
    thread_defaults()
    try:
        cli(prog_name="msense")
    finally:
        # NOTE: the process ends here. Its last cycle collection walks every object the check
        # left (a 2,000-KPI report: 0.2 s of CPU after the report was written) to find no
        # garbage that matters: frozen, they are skipped (and still freed as the process ends).
        import gc

        gc.freeze()
