"""A draft slot description for one parent class, from megatron-core's source (`infer`'s logic).

What the source tells is filled in: the Submodules fields (names, defaults, list-ness,
upstream_typed), each slot's construction and the arguments its call sites pass (names, kinds,
which only under a condition; types where an upstream Builder Protocol or a forwarded `__init__`
parameter annotates them), and the methods the parent calls on the built module. What a person
must decide is a placeholder that still validates (docs `TODO: ...`, type `TODO`) and an entry
in :attr:`Draft.todo`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from generator.commands.annotations import TODO_TYPE, Imports, rewrite
from generator.upstream import source as src
from generator.upstream.constructions import Construction, direct_constructions
from generator.upstream.usage import Use, forwarded_annotation, protocol_call, uses

Json = dict[str, Any]


class InferError(Exception):
    """The class is unknown or is not a parent with a Submodules dataclass."""


@dataclass
class Draft:
    description: Json
    todo: list[str] = field(default_factory=lambda: [])
    lifted: list[tuple[str, Construction]] = field(default_factory=lambda: [])  # (where, what)


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def find_submodules(parent: src.ClassRef) -> src.ClassRef | None:
    """The parent's Submodules dataclass: upstream's pairing (source.PARENTS), else the
    `*Submodules` class its (or an inherited) `__init__` annotates `submodules` with."""
    for dataclass_name, parent_name in src.PARENTS.items():
        if parent_name == parent.qualname:
            return src.resolve_dotted(dataclass_name)
    for cls in (parent, *src.base_classes(parent)):
        for stmt in cls.node.body:
            if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
                for arg in stmt.args.args + stmt.args.kwonlyargs:
                    if arg.arg != "submodules" or arg.annotation is None:
                        continue
                    for node in ast.walk(arg.annotation):
                        name = node.id if isinstance(node, ast.Name) else None
                        if isinstance(node, ast.Constant) and isinstance(node.value, str):
                            name = node.value
                        if name and name.endswith("Submodules"):
                            found = src.resolve_class(cls.module, name)
                            if found is not None:
                                return found
    return None


def _argument_name(value: ast.expr | None, index: int) -> str:
    if isinstance(value, ast.Name):
        return value.id
    if isinstance(value, ast.Attribute):
        return value.attr
    return f"arg{index}"


class _Drafter:
    def __init__(self, parent: src.ClassRef, dataclass_ref: src.ClassRef) -> None:
        self.parent = parent
        self.dataclass = dataclass_ref
        self.imports = Imports()
        self.imports.add(parent.name, parent.qualname)
        self.imports.add(dataclass_ref.name, dataclass_ref.qualname)
        self.todo: list[str] = []
        self.builders: dict[str, Json] = {}
        self.interfaces: dict[str, Json] = {}

    # -- types --
    def _type(self, annotation: ast.expr | None, module: str, what: str) -> str:
        if annotation is None:
            self.todo.append(f"type of {what}: the source does not annotate it")
            return TODO_TYPE
        text, unresolved = rewrite(annotation, module, self.imports)
        if unresolved:
            self.todo.append(
                f"type of {what}: `{ast.unparse(annotation)}` names {', '.join(unresolved)}, "
                "which the source does not import: add the import"
            )
        return text

    def _signature(self, function: ast.FunctionDef, module: str, what: str) -> list[Json]:
        """A Protocol method's parameters (self dropped) as description parameters."""
        args = function.args
        params: list[Json] = []
        positional = [*args.posonlyargs, *args.args]
        defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
        defaults += args.defaults
        for index, (arg, default) in enumerate(zip(positional, defaults)):
            if index == 0 and arg.arg == "self":
                continue
            kind = "positional" if arg in args.posonlyargs else "positional_or_keyword"
            params.append(self._parameter(arg, kind, default, module, what))
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            params.append(self._parameter(arg, "keyword", default, module, what))
        return params

    def _parameter(
        self, arg: ast.arg, kind: str, default: ast.expr | None, module: str, what: str
    ) -> Json:
        param: Json = {
            "name": arg.arg,
            "kind": kind,
            "type": self._type(arg.annotation, module, f"{what} parameter {arg.arg}"),
        }
        if default is not None:
            param["default"], _ = rewrite(default, module, self.imports)
        return param

    # -- builders --
    def slot(self, slot: src.UpstreamSlot) -> Json:
        found = src.find_sites(self.parent, slot.name, slot.is_list)
        summary = found.summary
        label = f"{self.dataclass.name}.{slot.name}"
        entry: Json = {
            "name": slot.name,
            "doc": f"TODO: what {slot.name} is for in {self.parent.name}.",
        }
        protocols = slot.builder_protocols
        protocol = src.resolve_class(slot.dataclass.module, protocols[0]) if protocols else None
        builder_name = protocol.name if protocol else f"{_camel(slot.name)}Builder"
        entry["builder"] = builder_name
        if slot.default is not None:
            entry["default"], unresolved = rewrite(
                slot.default, slot.dataclass.module, self.imports
            )
            if unresolved:
                self.todo.append(f"{label}: default `{slot.default_text}`: add its import")
        annotation = slot.annotation_text
        optional = slot.default_text == "None" or "Optional" in annotation or "None" in annotation
        if optional:
            entry["optional"] = True
            self.todo.append(f"{label}: optional: say in the doc when the slot is None/unused")
        if slot.default_text is not None and slot.default_text != "None" and not protocols:
            self.todo.append(
                f"{label}: default {slot.default_text}: add `placeholder` if it does not "
                "satisfy the Builder, or drop the default if the parent needs a real module"
            )
        if protocols:
            entry["upstream_typed"] = True
        if slot.is_list:
            entry["multiplicity"] = "list"
        if not summary.sites:
            self.todo.append(
                f"{label}: no call site found in {', '.join(found.searched)}: "
                "describe the Builder's construction and parameters by hand"
            )
        for problem in summary.unresolved:
            self.todo.append(f"{label}: arguments not analysed: {problem}")
        if builder_name not in self.builders:
            self.builders[builder_name] = self._builder(slot, builder_name, protocol, summary)
        self._interface(slot, self.builders[builder_name]["returns"], summary)
        return entry

    def _builder(
        self,
        slot: src.UpstreamSlot,
        name: str,
        protocol: src.ClassRef | None,
        summary: src.SiteSummary,
    ) -> Json:
        label = f"{self.dataclass.name}.{slot.name}"
        call = protocol_call(protocol) if protocol else None
        declared: dict[str, Json] = {}
        declared_positional: list[Json] = []
        returns = f"{_camel(slot.name)}Interface"
        if protocol is not None and call is not None:
            for param in self._signature(call, protocol.module, name):
                declared[param["name"]] = param
                if param["kind"] != "keyword":
                    declared_positional.append(param)
            if isinstance(call.returns, ast.Name):
                returns = call.returns.id
            elif isinstance(call.returns, ast.Constant) and isinstance(call.returns.value, str):
                returns = call.returns.value
        params: list[Json] = []
        widest = max(summary.sites, key=lambda s: s.positional, default=None)
        positional_values = (
            [a.value for a in widest.arguments if a.keyword is None] if widest else []
        )
        first_conditional = summary.positional - summary.conditional_positional
        for index in range(summary.positional):
            value = positional_values[index] if index < len(positional_values) else None
            if index < len(declared_positional):
                param = dict(declared_positional[index], kind="positional")
            else:
                param = {
                    "name": _argument_name(value, index),
                    "kind": "positional",
                    "type": self._forwarded_type(value, widest, f"{label} positional {index}"),
                }
                self.todo.append(
                    f"{name}: positional parameter {index} ({param['name']!r}, the parent "
                    f"passes `{ast.unparse(value) if value is not None else '?'}`): name it "
                    "as the implementations do"
                )
            if index >= first_conditional:
                param["passed"] = "conditionally"
            params.append(param)
        for keyword in _keyword_order(summary):
            param = dict(declared[keyword], kind="keyword") if keyword in declared else None
            if param is None:
                site, value = _first_value(summary, keyword)
                param = {
                    "name": keyword,
                    "kind": "keyword",
                    "type": self._forwarded_type(value, site, f"{name} parameter {keyword}"),
                }
            if keyword in summary.conditional_keywords:
                param["passed"] = "conditionally"
                if "default" not in param:
                    self.todo.append(
                        f"{name}: {keyword} is passed only under a condition: give it the "
                        "default the implementations use"
                    )
            params.append(param)
        if protocol is not None and call is not None:
            passed = {p["name"] for p in params}
            missing = [p for p in declared if p not in passed and declared[p]["kind"] == "keyword"]
            if missing:
                self.todo.append(
                    f"{name}: upstream's Protocol declares {missing}, which the parent never "
                    "passes: keep them out of the Builder, or record the gap in `upstream`"
                )
        builder: Json = {
            "name": name,
            "doc": f"TODO: how {self.parent.name} builds {slot.name}.",
            "construction": summary.construction or "call",
            "parameters": params,
            "returns": returns,
            "implementations": [],
        }
        if protocol is not None:
            builder["upstream"] = {"object": protocol.qualname}
            doc = ast.get_docstring(protocol.node)
            if doc:
                builder["doc"] = doc.strip().splitlines()[0]
        self.todo.append(
            f"{name}: add the implementations upstream's factories and backends put into "
            f"{slot.name} (with their argument mappings)"
        )
        return builder

    def _forwarded_type(self, value: ast.expr | None, site: src.CallSite | None, what: str) -> str:
        found = forwarded_annotation(self.parent, site.method if site else None, value)
        if found is None:
            shown = ast.unparse(value) if value is not None else "a **kwargs value"
            self.todo.append(f"type of {what}: the parent passes `{shown}`")
            return TODO_TYPE
        annotation, owner = found
        return self._type(annotation, owner.module, what)

    # -- interfaces --
    def _interface(self, slot: src.UpstreamSlot, name: str, summary: src.SiteSummary) -> None:
        attributes = sorted({s.attribute for s in summary.sites if s.attribute})
        label = f"{self.dataclass.name}.{slot.name}"
        found: list[Use] = [u for attribute in attributes for u in uses(self.parent, attribute)]
        interface: Json | None = self.interfaces.get(name)
        if interface is None:
            interface = {
                "name": name,
                "doc": f"TODO: what {self.parent.name} uses of {slot.name}.",
                "methods": [],
            }
            upstream = src.resolve_class(slot.dataclass.module, name)
            if upstream is not None:
                interface["upstream"] = {"object": upstream.qualname}
                doc = ast.get_docstring(upstream.node)
                if doc:
                    interface["doc"] = doc.strip().splitlines()[0]
            self.interfaces[name] = interface
        methods: list[Json] = interface["methods"]
        known = {m["name"] for m in methods}
        if not attributes:
            self.todo.append(
                f"{label}: the built module is not kept as self.<attribute> in __init__: "
                f"describe {name} from how the parent uses it"
            )
        for use in found:
            if not use.called or use.name in known:
                continue
            known.add(use.name)
            params: list[Json] = [
                {"name": _argument_name(v, i), "kind": "positional", "type": TODO_TYPE}
                for i, v in enumerate(use.positional)
            ]
            params += [{"name": k, "kind": "keyword", "type": TODO_TYPE} for k in use.keywords]
            methods.append(
                {
                    "name": use.name,
                    "doc": f"TODO: called in {use.owner}.",
                    "parameters": params,
                    "returns": TODO_TYPE,
                }
            )
            self.todo.append(
                f"{name}.{use.name}: parameter names, types and return type "
                f"({use.owner}, line {use.line} calls it)"
            )
        read = sorted({u.name for u in found if not u.called} - known)
        if read:
            self.todo.append(
                f"{name}: the parent also reads {', '.join(read)} from self."
                f"{'/'.join(attributes)}: add the ones that belong to the interface as attributes"
            )
        if slot.is_list:
            self.todo.append(
                f"{name}: {slot.name} is a list; look at how the parent calls its elements"
            )

    def description(self, slots: list[Json]) -> Json:
        return {
            "$schema": "../slot.schema.json",
            "module": _snake(self.parent.name),
            "doc": f"Slots of {self.dataclass.name} ({self.dataclass.module}).",
            "imports": dict(sorted(self.imports.names.items())),
            "interfaces": list(self.interfaces.values()),
            "builders": list(self.builders.values()),
            "parent": {
                "class": self.parent.name,
                "submodules": self.dataclass.name,
                "slots": slots,
            },
        }


def _keyword_order(summary: src.SiteSummary) -> list[str]:
    order: list[str] = []
    for site in summary.sites:
        for argument in site.arguments:
            if argument.keyword is not None and argument.keyword not in order:
                order.append(argument.keyword)
    order += sorted(summary.keywords - set(order))
    return order


def _first_value(
    summary: src.SiteSummary, keyword: str
) -> tuple[src.CallSite | None, ast.expr | None]:
    for site in summary.sites:
        for argument in site.arguments:
            if argument.keyword == keyword and argument.value is not None:
                return site, argument.value
    return None, None


def draft(dotted: str) -> Draft:
    """The draft description of the parent class `dotted` (megatron.core.x.Class)."""
    parent = src.resolve_dotted(dotted)
    if parent is None:
        raise InferError(f"{dotted}: no such class under megatron/core (give module.Class)")
    dataclass_ref = find_submodules(parent)
    if dataclass_ref is None:
        raise InferError(
            f"{dotted}: not a parent: its __init__ takes no `submodules` annotated with a "
            "*Submodules dataclass"
        )
    fields = [s for s in src.upstream_slots() if s.dataclass.qualname == dataclass_ref.qualname]
    if not fields:
        raise InferError(f"{dataclass_ref.qualname} has no slots (annotated fields)")
    drafter = _Drafter(parent, dataclass_ref)
    slots = [drafter.slot(s) for s in fields]
    lifted = [
        (f"{src.relative(parent.path)}:{c.line}", c) for c in direct_constructions(parent.qualname)
    ]
    todo = drafter.todo
    for where, construction in lifted:
        kept = f"self.{construction.attribute}" if construction.attribute else "not kept"
        todo.append(
            f"{where}: __init__ constructs {construction.callee} itself ({kept}): lift it "
            "into a slot (parent.lifted) or record why it stays hard-coded"
        )
    return Draft(drafter.description(slots), todo, lifted)
