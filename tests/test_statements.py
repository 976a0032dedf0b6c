"""statements: one statement of a source file parsed alone."""

import ast

from generator.statements import statement_alone

SOURCE = '''\
import os


def before():
    return os.sep
@first
@second(
    option=True,
)

# a comment
class Layer(Base, metaclass=Meta):
    """Docstring."""

    size = 3

    def __init__(self, config, *, width: int = 1) -> None:
        self.config = config

    @property
    def shape(self):
        return (self.size,)

    def __init__(self):  # a second definition: calling the class never reaches it
        pass


class Text:
    """A docstring with a line
at column 0."""

    def __init__(self, a):
        self.a = a


class Wrapped:
    @staticmethod
    def __new__(cls):
        return object.__new__(cls)
'''


def _start(name: str) -> int:
    return SOURCE.index(f"class {name}")


def test_statement_alone_has_its_decorators_and_its_positions_in_the_file() -> None:
    node = statement_alone(SOURCE, _start("Layer"))
    whole = next(n for n in ast.parse(SOURCE).body if isinstance(n, ast.ClassDef))
    assert node is not None
    assert ast.dump(node, include_attributes=True) == ast.dump(whole, include_attributes=True)


def test_a_statement_cut_inside_a_string_is_none() -> None:
    assert statement_alone(SOURCE, _start("Text")) is None
