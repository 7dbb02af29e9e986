"""Python steps of examples/diamond.yaml."""

from __future__ import annotations


def sum_file(path: str, power: int = 1) -> dict[str, int]:
    """Sum the numbers of a file (one per line), each raised to ``power``."""
    with open(path) as f:
        numbers = [int(line) for line in f if line.strip()]
    total = sum(n**power for n in numbers)
    print(f"{len(numbers)} numbers, total {total}")
    return {"total": total}
