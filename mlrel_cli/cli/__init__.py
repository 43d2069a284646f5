"""The command-line layer: the only package that knows Typer and the terminal."""
