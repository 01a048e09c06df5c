"""WHERE clauses from optional filters, always parameterised."""

from __future__ import annotations

from typing import Any

from psycopg import sql


class Where:
    def __init__(self) -> None:
        self.conditions: list[sql.Composable] = [sql.SQL("true")]
        self.params: list[Any] = []

    def equals(self, **columns: Any) -> Where:
        """``column = value`` for each value given (None means no filter)."""
        for column, value in columns.items():
            if value is not None:
                self.add(sql.SQL("{} = %s").format(sql.Identifier(column)), value)
        return self

    def add(self, condition: sql.Composable, *params: Any) -> Where:
        self.conditions.append(condition)
        self.params.extend(params)
        return self

    def sql(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.conditions)
