"""`riskscore synth`: generate a causal synthetic Dutch cohort and show its calibration."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from riskscore.errors import ConfigError

# Bad values raise ConfigError rather than typer.BadParameter: cli.main turns a RiskscoreError into one
# line on stderr, while a BadParameter raised in the command would escape it as a traceback.

AUDIT_COLUMNS_HELP = "migration_background=non_western, ses_band=low, gender=v, …"


def register(app: typer.Typer) -> None:
    app.command("synth")(synth_command)


def _parse_group(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    column, sep, level = value.partition("=")
    if not sep or not column or not level:
        raise ConfigError(f"--strict-group: expected column=value like {AUDIT_COLUMNS_HELP}, got {value!r}")
    return column.strip(), level.strip()


def synth_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the raw tables to (<table>.parquet).")],
    students: Annotated[int, typer.Option("--students", help="Students per school year (10 .. 5,000,000).")] = 20000,
    years: Annotated[int, typer.Option("--years", help="Number of school years (1 .. 9, within the school calendar).")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives identical tables.")] = 7,
    first_year: Annotated[str, typer.Option("--first-year", help="First school year, like 2020-21.")] = "2020-21",
    surge_year: Annotated[str | None, typer.Option("--surge-year", help="Knob: school year with an absence surge (like 2021-22).")] = None,
    surge_factor: Annotated[float, typer.Option("--surge-factor", help="Knob: multiplier of real unauthorised absence in --surge-year.")] = 2.0,
    strict_group: Annotated[str | None, typer.Option("--strict-group", help=f"Knob: audit group recorded more strictly ({AUDIT_COLUMNS_HELP}).")] = None,
    strict_factor: Annotated[float, typer.Option("--strict-factor", help="Knob: multiplier of the group's recorded unauthorised absence (no change in real risk).")] = 3.0,
    strict_from: Annotated[str | None, typer.Option("--strict-from", help="Knob: first school year of strict recording (default: all years).")] = None,
    mix_shift: Annotated[float, typer.Option("--mix-shift", help="Knob: share of students moved toward mbo-1/mbo-2 (0..0.9).")] = 0.0,
    mix_from: Annotated[str | None, typer.Option("--mix-from", help="Knob: first school year of the level-mix shift (default: the second year).")] = None,
    validate: Annotated[bool, typer.Option("--validate/--no-validate", help="Check every table against its contract before writing.")] = True,
) -> None:
    """Generate students, absences, sick reports, applications, enrolments, diplomas and VSV outcomes."""
    from riskscore import synthetic
    from riskscore.contracts import validate as validate_table
    from riskscore.datasets import write_tables

    if surge_year is None and surge_factor != 2.0:
        raise ConfigError("--surge-factor needs --surge-year")
    if (strict_from is not None) and strict_group is None:
        raise ConfigError("--strict-from needs --strict-group")
    if mix_from is not None and not mix_shift:
        raise ConfigError("--mix-from needs --mix-shift")
    if mix_shift and mix_from is None:
        mix_from = synthetic._sy(synthetic._year_index(first_year) + 1)
    knobs = synthetic.Knobs(
        absence_surge_year=surge_year,
        absence_surge_factor=surge_factor if surge_year else 1.0,
        strict_group=_parse_group(strict_group),
        strict_factor=strict_factor if strict_group else 1.0,
        strict_from=strict_from,
        level_mix_shift=mix_shift,
        level_mix_from=mix_from,
    )
    started = time.perf_counter()
    tables = synthetic.generate(students, years, seed, first_year=first_year, knobs=knobs)
    elapsed = time.perf_counter() - started
    if validate:
        tables = {name: df if name == "audit" else validate_table(name, df) for name, df in tables.items()}
    write_tables(tables, out)
    synthetic.write_marker(out, students=students, years=years, seed=seed)  # the model card says "synthetic"
    counts = ", ".join(f"{name} {len(df):,}" for name, df in tables.items())
    typer.echo(f"wrote {out}: {counts} (generated in {elapsed:.1f} s)")
    _print_calibration(synthetic.calibration_table(tables))


def _print_calibration(table: object) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table(title="VSV rate per level: generated vs public (per school year)")
    for col in ("level group", "students", "VSV", "generated", "public", "tolerance", "ok"):
        view.add_column(col, justify="left" if col == "level group" else "right")
    for row in table.itertuples():  # type: ignore[attr-defined]
        view.add_row(row.level_group, f"{row.students:,}", f"{row.vsv:,}", f"{row.generated_rate:.2%}",
                     f"{row.public_rate:.2%}", f"±{row.tolerance:.2%}", "yes" if row.within_tolerance else "NO")
    Console().print(view)
