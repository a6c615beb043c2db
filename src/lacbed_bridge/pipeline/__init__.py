"""The workflow's own machinery, apart from the stages it runs (the tree under ``results/`` it
writes is :mod:`lacbed_bridge.layout`, which every stage reads).

* :mod:`.settings`: the workflow's settings objects (``workflow``, ``refine_test`` sections);
* :mod:`.config_check`: the whole-config check run before any job (``check-config`` and the
  Snakefile call the same function);
* :mod:`.batch`: the simulate/EDD batch jobs (``lacbed-bridge batch``) and their manifests;
* :mod:`.cluster`: what each job asks of a SLURM cluster.

Importing this package imports nothing heavy (no torch, no gemmi): the Snakefile reads it at parse time.
"""
