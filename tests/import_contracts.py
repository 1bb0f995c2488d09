"""An import-linter contract type for imports that run when a module is imported.

The GUI imports torch inside functions so that the window paints before torch has loaded (a few seconds). The
built-in ``forbidden`` contract counts every import, those inside functions included, so it cannot state that rule.
``ModuleLevelForbiddenContract`` first drops the imports that sit inside a function body or an ``if TYPE_CHECKING:``
block, then checks the rest, direct and indirect chains alike, as ``forbidden`` does.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache

from grimp import ImportGraph
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.domain.contract import ContractCheck


class ModuleLevelForbiddenContract(ForbiddenContract):
    type_name = "module_level_forbidden"

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        for importer in list(graph.modules):
            for imported in list(graph.find_modules_directly_imported_by(importer)):
                details = graph.get_import_details(importer=importer, imported=imported)
                if details and not any(d["line_number"] in _import_time_lines(importer) for d in details):
                    graph.remove_import(importer=importer, imported=imported)
        return super().check(graph, verbose)


@cache
def _import_time_lines(module: str) -> frozenset[int]:
    """The line numbers of the import statements that run when ``module`` is imported."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return frozenset()
    with open(spec.origin, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    lines: set[int] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, (ast.Import, ast.ImportFrom)):
                lines.add(statement.lineno)
            elif isinstance(statement, ast.If) and not _is_type_checking(statement.test):
                visit(statement.body)
                visit(statement.orelse)
            elif isinstance(statement, ast.Try):
                for block in (statement.body, statement.orelse, statement.finalbody):
                    visit(block)
                for handler in statement.handlers:
                    visit(handler.body)
            elif isinstance(statement, (ast.With, ast.ClassDef)):
                visit(statement.body)  # class bodies run at import time; function bodies do not

    visit(tree.body)
    return frozenset(lines)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )
