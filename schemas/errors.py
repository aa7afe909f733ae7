"""The exception raised for bad input: a file, record, flag or parameter that breaks a contract.

Messages name the thing (file, record, flag), what was found and what was expected. The CLI turns
these into one-line errors with a non-zero exit; anything else is a bug and keeps its traceback.
"""


class InvalidInputError(ValueError):
    """Bad input from the user or from data on disk."""
