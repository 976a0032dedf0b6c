"""Upstream annotations and defaults rewritten as description expressions, with their imports.

`torch.distributed.ProcessGroup` becomes `ProcessGroup` with the import
`ProcessGroup: torch.distributed.ProcessGroup`; `Optional[X]` becomes `X | None` and
`Union[A, B]` becomes `A | B`; string annotations are parsed. Names the source does not bind
are reported, and the caller marks the type as TODO.
"""

from __future__ import annotations

import ast
import builtins

from generator.upstream.source import origin_of

TODO_TYPE = "TODO"
_BUILTINS = frozenset(dir(builtins))


class Imports:
    """The description's `imports`: local name -> fully qualified path."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def add(self, local: str, dotted: str) -> bool:
        """Records the import; False when `local` already names something else."""
        if "." not in dotted:
            return False
        known = self.names.setdefault(local, dotted)
        return known == dotted


class _Rewriter(ast.NodeTransformer):
    def __init__(self, module: str, imports: Imports) -> None:
        self.module = module
        self.imports = imports
        self.unresolved: list[str] = []

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, str):
            try:
                inner = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                self.unresolved.append(repr(node.value))
                return node
            return self.visit(inner)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        head = node.value.id if isinstance(node.value, ast.Name) else None
        origin = origin_of(self.module, head) if head else None
        if head in {"Optional", "Union"} and origin and origin.startswith("typing."):
            members = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if head == "Optional":
                members = [*members, ast.Constant(None)]
            rewritten: list[ast.expr] = []
            for member in members:
                result = self.visit(member)
                assert isinstance(result, ast.expr)
                rewritten.append(result)
            union = rewritten[0]
            for member in rewritten[1:]:
                union = ast.BinOp(union, ast.BitOr(), member)
            return union
        self.generic_visit(node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        parts: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        if not isinstance(current, ast.Name):
            self.unresolved.append(ast.unparse(node))
            return node
        head = origin_of(self.module, current.id)
        if head is None:
            self.unresolved.append(ast.unparse(node))
            return node
        dotted = ".".join([head, *reversed(parts)])
        if not self.imports.add(node.attr, dotted):
            self.unresolved.append(ast.unparse(node))
        return ast.Name(node.attr, ast.Load())

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in _BUILTINS:
            return node
        dotted = origin_of(self.module, node.id)
        if dotted is None or not self.imports.add(node.id, dotted):
            self.unresolved.append(node.id)
        return node


def rewrite(expression: ast.expr, module: str, imports: Imports) -> tuple[str, list[str]]:
    """(the expression as description text, names that could not be imported)."""
    rewriter = _Rewriter(module, imports)
    result = rewriter.visit(expression)
    assert isinstance(result, ast.expr)
    return ast.unparse(result), rewriter.unresolved
