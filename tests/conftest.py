"""Hypothesis profiles for the whole suite, chosen with HYPOTHESIS_PROFILE (default `dev`).

`dev` keeps a local run quick; `ci` (set by `make test`) searches harder and prints the blob
that reproduces a failure. Neither has a deadline: CI machines are slow and noisy.
"""

import os

from hypothesis import settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("ci", max_examples=500, deadline=None, derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
