"""What the tests share, one module per kind of help (pytest puts ``tests/`` on the path:
``pythonpath`` in pyproject.toml), imported as ``from support.workflow import snakemake``:

* :mod:`.workflow`: run the repository's Snakefile, read a dry run's job counts, the tiny config;
* :mod:`.refine_case`: small simulation settings and the refine command's test case;
* :mod:`.synthetic`: small results trees (variants, images, manifests) written with the package;
* :mod:`.surrogate`: a tiny network for training tests;
* :mod:`.sim_refdata`, :mod:`.felix_refdata`: the committed Felix reference runs and fakes;
* :mod:`.edd_crystals`: crystals with known projected densities;
* :mod:`.local_cluster`: a one-node SLURM cluster on localhost.
"""
