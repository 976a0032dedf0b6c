"""Worked examples of the generator used with your own descriptions."""
