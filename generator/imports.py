"""Collects the imports of one generated module: ask for a name, get the name to print."""

from dataclasses import dataclass, field


class ImportClash(ValueError):
    """Two different objects would be imported under one local name."""


@dataclass
class ImportRegistry:
    """Records `from module import name [as local]` needs while the view is built; renders them
    sorted. A description's local name for an import is the name its expressions use, so it is
    the name the generated code binds."""

    _by_local: dict[str, tuple[str, str]] = field(default_factory=dict[str, tuple[str, str]])

    def name(self, module: str, name: str, local: str | None = None) -> str:
        """Imports `name` from `module` (as `local`, when given) and returns the name to print."""
        local = local or name
        existing = self._by_local.get(local)
        if existing is not None and existing != (module, name):
            raise ImportClash(
                f"{local!r} would name both {existing[0]}.{existing[1]} and {module}.{name}"
            )
        self._by_local[local] = (module, name)
        return local

    def qualified(self, dotted: str, local: str | None = None) -> str:
        """Imports `package.module.Name` (as `local`, when given) and returns the name to print."""
        module, name = dotted.rsplit(".", 1)
        return self.name(module, name, local)

    def lines(self, own_package: str) -> list[str]:
        """Import statements: stdlib, third party, then this package's relative imports."""
        grouped: dict[str, dict[str, set[str]]] = {"stdlib": {}, "third_party": {}, "local": {}}
        for local, (module, name) in self._by_local.items():
            group = "local" if module.startswith(own_package + ".") else _group(module)
            grouped[group].setdefault(module, set()).add(
                name if local == name else f"{name} as {local}"
            )
        blocks: list[str] = []
        for group in ("stdlib", "third_party", "local"):
            statements = [
                f"from {_relative(module, own_package) if group == 'local' else module} import {', '.join(sorted(names))}"
                for module, names in sorted(grouped[group].items())
            ]
            if statements:
                blocks.append("\n".join(statements))
        return blocks


_STDLIB = frozenset({"collections", "dataclasses", "typing", "functools", "enum", "abc"})


def _group(module: str) -> str:
    return "stdlib" if module.split(".")[0] in _STDLIB else "third_party"


def _relative(module: str, own_package: str) -> str:
    return "." + module.removeprefix(own_package + ".")
