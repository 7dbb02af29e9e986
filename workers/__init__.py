"""Execution plane: the attempt executor, the local dispatcher and the step runtimes."""
