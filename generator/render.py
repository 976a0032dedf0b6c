"""Stage 5: render views with the Jinja2 templates in `templates/`."""

from pathlib import Path

import jinja2

from generator.view import ModuleView, PackageView

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def environment() -> jinja2.Environment:
    """The one Jinja environment: strict about undefined names, no HTML escaping."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_module(env: jinja2.Environment, module: ModuleView) -> str:
    return env.get_template("module.py.j2").render(module=module)


def render_package(env: jinja2.Environment, package: PackageView) -> str:
    return env.get_template("package_init.py.j2").render(package=package)
