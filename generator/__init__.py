"""Generates typed Megatron-Core layer-spec code from JSON slot descriptions.

Stages, each a module that only uses the ones before it:
    load (JSON + JSON Schema) -> model (frozen dataclasses) -> validate (semantic checks)
    -> view (template-ready values) -> render (Jinja2) -> formatting (black) -> output (files)
"""
