"""The README's chapter and best-MLP tables show exactly what ``make reproduce`` recorded in
``docs/results.json``: each result cell is the row's template filled with the recorded values."""

from __future__ import annotations

import json

from scripts.reproduce import README, RESULTS, ROWS, readme_row, result_columns, table_rows


def test_every_result_cell_of_the_readme_tables_is_the_recorded_one():
    results = json.loads(RESULTS.read_text())["rows"]
    assert list(results) == list(ROWS)  # every row recorded, in table order
    readme = README.read_text()
    for row_id, entry in results.items():
        row = ROWS[row_id]
        assert entry["command"] == row.command and entry["seed"] == row.seed
        assert entry["cells"] == row.cells(entry["values"]), row_id  # the cells come from the values
        body = table_rows(readme, row.table)
        assert body[readme_row(body, row)][result_columns(row.table)] == entry["cells"], row_id


def test_every_row_of_the_two_tables_is_a_recorded_one():
    readme = README.read_text()
    for table, unrecorded in (("chapter", ["4.1.2 activations"]), ("best_mlp", [])):  # 4.1.2 draws figures
        body = table_rows(readme, table)
        recorded = {readme_row(body, row) for row in ROWS.values() if row.table == table}
        assert [cells[0] for i, cells in enumerate(body) if i not in recorded] == unrecorded
