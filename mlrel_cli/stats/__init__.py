"""Pure statistics on numpy arrays: no I/O, no printing."""
