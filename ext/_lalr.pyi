from typing import Any, Callable

class Fallback(Exception): ...

class Meta:
    empty: bool
    line: int
    column: int
    end_line: int
    end_column: int
    start_pos: int
    end_pos: int

class Parser:
    rule_names: tuple[str | None, ...]
    def __init__(self, tables: tuple, token_class: type[str]) -> None: ...
    def parse(self, text: str, callbacks: list[Callable[[Meta, list], Any] | None]) -> tuple[Any, list[str]]: ...
