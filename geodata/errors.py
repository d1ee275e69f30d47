"""Errors of the Grid Map model. Each says what was expected, what arrived and where."""
from __future__ import annotations


class GridMapError(ValueError):
    """Base of every domain error; CLIs and the UI turn it into one clean sentence."""


class InputError(GridMapError):
    """A file or value as a whole cannot be used (wrong file, no header, unknown CRS)."""

    def __init__(self, message: str, *, file: str | None = None, sheet: str | None = None,
                 row: int | None = None, column: str | None = None) -> None:
        where = ", ".join(f"{k} {v}" for k, v in
                          (("file", file), ("sheet", sheet), ("row", row), ("column", column)) if v is not None)
        super().__init__(f"{message} ({where})" if where else message)
        self.file, self.sheet, self.row, self.column = file, sheet, row, column


class NotFoundError(GridMapError, LookupError):
    """A named community, grid, building or flat does not exist in the store."""


class ConflictError(GridMapError):
    """Someone else changed the record since it was read; nothing was overwritten."""


class AccessDenied(GridMapError, PermissionError):
    """The user's role or area does not allow this."""
