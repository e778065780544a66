"""Per-iteration training history: one record (dict of floats) per iteration, readable as columns or CSV."""

from __future__ import annotations

import csv


class History:
    def __init__(self, records=None):
        self.records: list[dict] = list(records or [])

    def append(self, record: dict) -> None:
        self.records.append(dict(record))

    def __len__(self):
        return len(self.records)

    def __getitem__(self, name: str) -> list:
        """The column ``name`` (e.g. ``history["loss_D"]``)."""
        return [r.get(name, float("nan")) for r in self.records]

    @property
    def last(self) -> dict:
        return self.records[-1] if self.records else {}

    @property
    def columns(self) -> list[str]:
        names: list[str] = []
        for r in self.records:
            names += [k for k in r if k not in names]
        return names

    def to_csv(self, path) -> None:
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(self.records)
