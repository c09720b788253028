"""The deploy side: what runs on the server besides the ``.pyz`` itself — the systemd units, the ``deploy`` command and
its (delta) fetch. Standard library only, with :mod:`hatch_zipapp.bootstrap` and :mod:`hatch_zipapp.pyz`: a server
needs none of the build side (hatchling, packaging, installer) to deploy; ``tests/test_layers.py`` holds it to that."""
