"""The command-line commands, one module each.

Each module has `register(commands)`, which adds its sub-parser and sets `run` (args -> exit
status) as the parser's default; :mod:`generator.cli` only collects them. Commands use the
pipeline's stages; no stage imports a command.
"""
