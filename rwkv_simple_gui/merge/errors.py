"""The merge's one error, below every module of merge/ that raises it."""


class MergeError(ValueError):
    """A merge that cannot be done as asked; the message says what is wrong and what to pick instead."""
