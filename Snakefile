# lacbed-bridge workflow: variants -> simulate (builtin | felix) and edd -> dataset -> train
# (direction x model x seed; the charge estimator per seed) -> evaluate -> benchmark -> figures. Each rule calls one package
# command; the logic lives in src/lacbed_bridge. Run with `make run` (config.yaml) or
# `snakemake --cores N --configfile configs/paper.yaml`.
import os

from snakemake.utils import min_version

min_version("9.0")


# The embedded default, unless a config is given on the command line (--configfile), which then
# stands alone (no silent merge of the demo's keys into e.g. configs/paper.yaml).
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/variants.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/edd.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/estimator.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/refine.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
