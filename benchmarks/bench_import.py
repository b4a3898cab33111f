"""Import speed: one school year of absence exports of a 20,000-pupil mbo college (Magister layout,
Windows-1252, `;`, dd-mm-jjjj uu:mm, Excel's empty rows, duplicates) through `riskscore.ingest`.

Two shapes of the same year are timed, interleaved: the whole year as one file, and the year as
monthly exports imported one after another (the merge by natural key + ledger each time). Target:
the year imports in under 30 s.

    python benchmarks/bench_import.py [--pupils 20000] [--records 25] [--rounds 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import command_line, median, peak_rss_mib, table, target

SCHOOL = """school_id: 99XX
hours: lessons
timetable: {1: "08:30-09:20", 2: "09:30-10:20", 3: "10:30-11:20", 4: "11:30-12:20", 5: "12:50-13:40", 6: "13:50-14:40", 7: "14:50-15:40", 8: "15:50-16:40"}
codes: {O: unauthorised, Z: sick, TL: late, M: authorised, V: authorised}
"""


def make_year(folder: Path, *, pupils: int, records: int, seed: int = 7) -> tuple[Path, list[Path], int]:
    """Absence records of one school year (Sept..June), as one file and as ten monthly files."""
    rng = np.random.default_rng(seed)
    n = pupils * records
    who = rng.integers(0, pupils, n)
    bsn = np.char.zfill((100_000_000 + who * 7).astype(str), 9)
    start = np.datetime64("2023-09-04")
    day = start + rng.integers(0, 40 * 7, n).astype("timedelta64[D]")
    weekday = (day.astype(np.int64) + 3) % 7
    day = day - np.where(weekday >= 5, weekday - 4, 0).astype("timedelta64[D]")
    lesson = rng.integers(1, 9, n)
    hh = np.array([8, 9, 10, 11, 12, 13, 14, 15])[lesson - 1]
    code = rng.choice(np.array(["O", "Z", "TL", "M", "V"]), n, p=[0.35, 0.3, 0.2, 0.1, 0.05])
    ds = np.datetime_as_string(day, unit="D")
    dmy = np.char.add(np.char.add(np.char.add(np.char.add([s[8:10] for s in ds], "-"), [s[5:7] for s in ds]), "-"),
                      [s[0:4] for s in ds])
    lines = [f"{i};{b};Leerling {i % 977};4A;{d} {h}:30;{d} {h}:55;{les};{c};Nee;opm"
             for i, (b, d, h, les, c) in enumerate(zip(bsn, dmy, hh, lesson, code, strict=True))]
    dup = rng.integers(0, n, n // 100)  # 1 % exact duplicates
    months = np.array([s[5:7] for s in ds])
    header = "Id;BSN;Naam leerling;Klas;Start;Eind;Lesuur;Code;Geoorloofd;Opmerking"
    body = lines + [lines[i] for i in dup]
    month_of = np.concatenate([months, months[dup]])
    year = folder / "year.csv"
    year.write_bytes(("\r\n".join([header, *body, ";;;;;;;;;"]) + "\r\n").encode("cp1252"))
    monthly = []
    for m in ["09", "10", "11", "12", "01", "02", "03", "04", "05", "06"]:
        sel = [b for b, mm in zip(body, month_of, strict=True) if mm == m]
        p = folder / f"month-{m}.csv"
        p.write_bytes(("\r\n".join([header, *sel]) + "\r\n").encode("cp1252"))
        monthly.append(p)
    return year, monthly, len(body)


PROFILE = """name: bench
system: Magister
format: csv
student_number: national
columns: {student: BSN, start: Start, end: Eind, lesson: Lesuur, code: Code, authorised: Geoorloofd, record_id: Id}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pupils", type=int, default=20_000)
    ap.add_argument("--records", type=int, default=25, help="absence records per pupil per year")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from riskscore.ingest.run import run_import

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        root = Path(tmp)
        (root / "school.yaml").write_text(SCHOOL)
        (root / "bench.yaml").write_text(PROFILE)
        t = time.perf_counter()
        year, monthly, n_rows = make_year(root, pupils=args.pupils, records=args.records)
        t_make = time.perf_counter() - t
        key = b"bench-key-0123456789"
        times: dict[str, list[float]] = {"one file": [], "ten monthly files": []}
        for r in range(args.rounds):
            for shape in (("one file", "ten monthly files") if r % 2 == 0 else ("ten monthly files", "one file")):
                out = root / f"out-{r}-{shape[:3]}"
                t = time.perf_counter()
                for f in ([year] if shape == "one file" else monthly):
                    run_import(f, kind="absences", out=out, key=key, profile=str(root / "bench.yaml"),
                               school=root / "school.yaml")
                times[shape].append(time.perf_counter() - t)
        one, ten = median(times["one file"]), median(times["ten monthly files"])
    print(f"`{command_line()}` — {n_rows:,} rows (1 % exact duplicates, Windows-1252), generated in {t_make:.1f} s; "
          f"peak RSS {peak_rss_mib():.0f} MiB\n")
    print(table(["shape", "runs (s)", "median (s)", "rows/s"],
                [[k, ", ".join(f"{x:.1f}" for x in v), f"{median(v):.1f}", f"{n_rows / median(v):,.0f}"]
                 for k, v in times.items()]))
    print(f"\nratio monthly / one file (same run): {ten / one:.2f}")
    if args.json:
        import json

        args.json.write_text(json.dumps({"targets": [target("import one school year", "< 30 s", f"{one:.1f} s", one < 30,
                                                                f"{args.pupils:,} pupils, {n_rows:,} rows")],
                                         "times": times, "rows": n_rows}))


if __name__ == "__main__":
    main()
