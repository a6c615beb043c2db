"""Settings of the whole test session.

Under pytest-xdist (``-n 2``, the quick loop of ``make quick``) each worker runs its numerical
libraries on one thread: two workers with a thread pool each on a 2-core machine spend their time
waiting for each other (measured: the quick loop took 9.5 min with ``-n 2`` and 2.5 min serially).
"""

from __future__ import annotations

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_name] = "1"
