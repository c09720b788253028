"""The ``.pyz`` format both sides read: the build writes it, the deploy side fetches, checks and switches it.
Standard library only, with :mod:`hatch_zipapp.bootstrap` (whose ``zipread`` is the one zip reader of the runtime);
never an import of the build side (``tests/test_layers.py``)."""
