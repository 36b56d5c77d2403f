"""How much of a CSV file Arrow reads at a time: blocks of 1 MB, or of a few hundred rows of a
wide file (metricsense.data.readers)."""

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
