"""A user's package: its own MLP and core attention (layers.py), their descriptions (schemas/), the
typed package generated from them (typed/) and a GPT model built with it (run.py)."""
