"""How much of a CSV file Arrow reads at a time: blocks of 1 MB, or of a few hundred rows of a
wide file (metricsense.data.readers); how its fields are separated; its column names as read."""

from __future__ import annotations

from pathlib import Path

# CSV blocks of 1 MB: a long file streams through a few MB of Arrow buffers, whatever its size.
BATCH_BYTES = 1 << 20
#: A block holds at least this many rows of a wide file (see ``block_size``).
BATCH_ROWS = 256
#: ... up to this many bytes.
MAX_BLOCK = 64 << 20


def header_bytes(path: Path) -> int:
    """The length of the file's first line in bytes (``MAX_BLOCK`` when it is longer)."""
    try:
        with open(path, "rb") as f:
            read = 0
            while read < MAX_BLOCK:
                chunk = f.read(1 << 16)
                if not chunk:
                    return read
                end = chunk.find(b"\n")
                if end >= 0:
                    return read + end + 1
                read += len(chunk)
    except OSError:
        return 0
    return MAX_BLOCK


def block_size(path: Path, rows: int = BATCH_ROWS, least: int = BATCH_BYTES) -> int:
    """Arrow's CSV block for ``path``: ``least`` bytes, or ``rows`` header lines' worth when the
    header is wide (at most ``MAX_BLOCK``). Arrow converts a block column by column: a file of
    10,000 columns read in 1 MB blocks (a dozen rows each) cost as much per block as per row, and
    the number of blocks grew with the columns too (seconds at 10,000 KPIs)."""
    return max(least, min(MAX_BLOCK, header_bytes(path) * rows))


def header_options(path: Path):
    """Read options for the header (and the types Arrow infers from the first rows): 64 kB, or
    two lines of a wider file."""
    import pyarrow.csv as pacsv

    return pacsv.ReadOptions(block_size=block_size(path, 2, 1 << 16))


def parse_options(path: Path):
    """Fields are separated by commas; by semicolons when the header line has semicolons and no
    comma (the CSV that spreadsheets write where the decimal mark is a comma: read as commas, it
    would be one column, so this reads nothing differently that could have been read at all)."""
    import pyarrow.csv as pacsv

    try:
        with open(path, "rb") as f:
            header = f.read(1 << 16).split(b"\n", 1)[0]
    except OSError:
        header = b""
    delimiter = ";" if b";" in header and b"," not in header else ","
    return pacsv.ParseOptions(delimiter=delimiter)


def header_names(path: Path) -> list[str]:
    """The column names the CSV reader reads (its header options and delimiter), or those of the
    file's whole first line when Arrow cannot read them. A check on a file's columns (a survey's,
    metricsense.data.survey) must see what the reader will read: a first 64 kB parsed on its own
    missed the names past it (a header of 7,000 columns), or past a quoted newline; and a header
    that fits the reader's blocks (``block_size``) but not the 64 kB of ``header_options`` (a
    quoted name holding a newline and 100 kB) is read with the reader's blocks, as the reader
    reads it: its first line alone named no survey column, and a KPI read the survey by respondent."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    for options in (header_options(path), pacsv.ReadOptions(block_size=block_size(path))):
        try:
            reader = pacsv.open_csv(path, read_options=options, parse_options=parse_options(path))
            return list(reader.schema.names)
        except (pa.ArrowException, OSError, UnicodeDecodeError):
            pass
    # NOTE: the first record, not the first line: Arrow fails on a malformed row too, and the
    # first line of a header whose first name is quoted and holds a newline (`"free`) named no
    # survey column, so a KPI read the file and the reader's error quoted a person's row.
    delimiter = parse_options(path).delimiter
    limit = csv.field_size_limit()
    try:
        csv.field_size_limit(MAX_BLOCK)
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            return [n.lstrip("\ufeff") if i == 0 else n for i, n in enumerate(next(csv.reader(f, delimiter=delimiter), []))]
    except (csv.Error, OSError):
        pass
    finally:
        csv.field_size_limit(limit)
    with open(path, "rb") as f:
        first = f.read(header_bytes(path)).split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r")
    return next(csv.reader([first], delimiter=delimiter), [])
