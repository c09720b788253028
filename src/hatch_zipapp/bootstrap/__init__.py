"""Code that runs inside the .pyz, on the server: the standard library only at import time (a test checks it)."""
