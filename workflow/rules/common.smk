# Shared Python of the workflow: validate the config once, derive families, batches, models.
import json
import os
import re
import shlex
import sys

import yaml
from snakemake.exceptions import WorkflowError

from lacbed_bridge.pipeline.batch import STAGES, manifest_problems, n_batches, stage_hash
from lacbed_bridge.dataset import keep as _keep
from lacbed_bridge.dataset.builder import convergence_warning
from lacbed_bridge.dataset.integrity import dataset_problems
from lacbed_bridge.pipeline import cluster as _cluster
from lacbed_bridge.config import config_hash, validate_config
from lacbed_bridge.pipeline.config_check import check_workflow_config
from lacbed_bridge.errors import InputError
from lacbed_bridge.layout import FIGURE_FORMATS, FIGURE_NAMES, ResultsLayout
from lacbed_bridge.pipeline.settings import RefineTestSettings, WorkflowSettings
from lacbed_bridge.surrogate.config import EstimatorConfig, TrainConfig

_validated = validate_config(config, path="configuration")
config.clear()
config.update(_validated)
# the whole config, before any job, as `lacbed-bridge check-config` checks it: names, output
# folders, geometry, beams, thicknesses, the image side the U-Nets take (one clear line)
check_workflow_config(config, path="configuration")

# The settings objects of the stages (defaults: the schema's) are what the rules read.
R = config["output"]["results"]
# Every path under results/ comes from the layout (lacbed_bridge/layout.py). A rule that reads the
# dataset declares its dataset.json: the dataset job writes it last, after the stacks, the manifest
# and the split tables (its other declared outputs), so it stands for all of them. Declaring each
# file too would change those rules' input sets, and Snakemake would retrain every model of an
# existing results/ ("set of input files has changed").
RES = ResultsLayout(R)
L = config["output"]["logs"]
WF = WorkflowSettings.from_config(config)
TRAIN = TrainConfig.from_mapping(config["train"])
ESTIMATOR = EstimatorConfig.from_mapping(config.get("estimator"))
REFINE = RefineTestSettings.from_config(config)
FAMILIES = [f["name"] for f in config["families"]]
DIRECTIONS = list(WF.directions)
SEEDS = list(WF.seeds)
MODELS = list(WF.models)
SPLIT = WF.split
GPU_TRAIN = _cluster.uses_cuda(config, "train")

# The effective (validated) config the package commands read, named by its hash inside
# Snakemake's own .snakemake/ folder: a dry run leaves nothing in results/, and a run with another
# config never rewrites the file that running jobs read. It is never a rule input: what triggers
# reruns are the params below.
_text = yaml.safe_dump(config, sort_keys=True)
EFFECTIVE = os.path.join(".snakemake", "lacbed-bridge", f"config-{config_hash(config)[:16]}.yaml")
if not os.path.isfile(EFFECTIVE):
    os.makedirs(os.path.dirname(EFFECTIVE), exist_ok=True)
    with open(EFFECTIVE + f".{os.getpid()}.tmp", "w") as _handle:
        _handle.write(_text)
    os.replace(EFFECTIVE + f".{os.getpid()}.tmp", EFFECTIVE)

# How the rules call the package: by the interpreter that runs this Snakemake, so that
# `.venv/bin/snakemake` works without .venv/bin on PATH (cluster jobs run that interpreter too).
# With --sdm conda each job runs in its rule's conda environment, whose `python` is first on PATH.
from snakemake.settings.types import DeploymentMethod as _Deployment

_IN_CONDA = _Deployment.CONDA in workflow.deployment_settings.deployment_method
PY = "python" if _IN_CONDA else shlex.quote(sys.executable)
LB = f"{PY} -m lacbed_bridge"
BENCHMARKS = os.path.join(workflow.basedir, "benchmarks")


wildcard_constraints:
    family="|".join(re.escape(f) for f in FAMILIES),
    batch=r"\d{4}",
    direction="edd2lacbed|lacbed2edd",
    model="pix2pix|unet",
    seed=r"\d+",


def family_config(family):
    """The config of one family (a rule param: editing it reruns only that family)."""
    return next(f for f in config["families"] if f["name"] == family)


def family_hash(wildcards):
    return config_hash(family_config(wildcards.family))


def prototype_hash(wildcards):
    """Hash of the family's own prototype entry (editing that entry reruns only its families)."""
    family = family_config(wildcards.family)
    if family.get("prototype") is None:
        return ""
    from lacbed_bridge.crystal.prototypes import DEFAULT_PROTOTYPES

    with open(family.get("prototypes_file") or DEFAULT_PROTOTYPES) as handle:
        return config_hash((yaml.safe_load(handle) or {}).get(family["prototype"]))


def user_cifs(wildcards):
    """A CIF family's CIFs (rule input: editing one reruns the family); none for prototype families."""
    folder = family_config(wildcards.family).get("cif_dir")
    if not folder:
        return []
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(".cif"))


def batch_ids(family):
    return [f"{b:04d}" for b in range(n_batches(config, family))]


def batch_manifests(stage):
    return [RES.batch_manifest(stage, family, b) for family in FAMILIES for b in batch_ids(family)]


# Invocations that must not change results/ (a dry run, reports, listings, unlocking).
_READ_ONLY_FLAGS = {"-n", "--dry-run", "--dryrun", "--report", "--unlock", "--list", "-l", "--list-rules",
                    "--summary", "-S", "--detailed-summary", "-D", "--lint", "--dag", "--rulegraph", "--filegraph",
                    "--touch", "-t", "--cleanup-metadata", "--list-changes", "--lc", "--delete-all-output",
                    "--delete-temp-output", "--archive", "--list-target-rules", "--lt", "--list-input-changes",
                    "--li", "--list-params-changes", "--lp", "--list-code-changes", "--list-untracked", "--lu",
                    "--containerize", "--export-cwl", "--print-compilation", "--generate-unit-tests",
                    "--list-conda-envs", "--conda-create-envs-only", "--conda-cleanup-envs", "--cleanup-shadow",
                    "--d3dag", "--debug-dag"}


def _read_only_invocation():
    # Snakemake's own setting covers a dry run asked for in a profile (`dryrun: true`) or the API
    output = getattr(workflow, "output_settings", None)
    if output is not None and getattr(output, "dryrun", False):
        return True
    for arg in sys.argv[1:]:
        if arg.split("=")[0] in _READ_ONLY_FLAGS:
            return True
        if re.fullmatch(r"-[A-Za-z]+", arg) and "n" in arg[1:]:  # combined short flags, e.g. -np
            return True
    return False


def _redo_damaged_batches():
    """A batch whose images were deleted or truncated after it finished is redone: Snakemake only
    sees the batch manifest (the rule's output), so a run removes that manifest and the batch job
    runs again, recomputing the damaged images and reusing the intact ones (same settings hash).
    Snakemake does not regenerate a missing intermediate file whose consumer is up to date, so the
    dataset's dataset.json goes too: the dataset is rebuilt from the repaired batches (and what
    depends on it follows). A dry run only says what a run would redo. Runs in the main Snakemake
    process only (never inside a cluster job, which parses this file too)."""
    if not workflow.is_main_process:
        return
    # another Snakemake holding this folder's lock may be writing these files: then only report
    locks = os.path.join(".snakemake", "locks")
    locked = os.path.isdir(locks) and any(name.endswith(".lock") for name in os.listdir(locks))
    read_only = _read_only_invocation() or locked

    def redo(output, label, problems, later, now):
        """Say what is damaged (three problems at most); in a run that may write, remove ``output``
        so that its job runs again. True when removed."""
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        if read_only:
            why = "another Snakemake holds the lock" if locked else later
            print(f"lacbed-bridge: {label} ({shown}); {why}", file=sys.stderr)
            return False
        os.remove(output)
        print(f"lacbed-bridge: {label} ({shown}); {now}", file=sys.stderr)
        return True

    damaged = False
    for stage in STAGES:
        for manifest in batch_manifests(stage):
            problems = manifest_problems(manifest) if os.path.isfile(manifest) else []
            if problems and redo(manifest, f"{manifest}: damaged images", problems, "a run will redo this batch",
                                 "redoing this batch"):
                damaged = True
    dataset_json = RES.dataset_file("dataset.json")
    if damaged and os.path.isfile(dataset_json):
        os.remove(dataset_json)
        print(f"lacbed-bridge: {dataset_json}: removed, the dataset is rebuilt from the repaired batches", file=sys.stderr)
    # the dataset's own files: a stack truncated or replaced, or one changed after the build
    # (checked deeply only then), makes the run rebuild the dataset instead of "Nothing to be done"
    if not damaged and os.path.isfile(dataset_json):
        try:
            problems = dataset_problems(os.path.dirname(dataset_json), changed_after=os.stat(dataset_json).st_mtime)
        except InputError as exc:  # dataset.json itself unreadable
            problems = [str(exc)]
        if problems:
            redo(dataset_json, f"{RES.dataset_dir()}: damaged", problems, "a run will rebuild it", "rebuilding the dataset")


_redo_damaged_batches()


def model_dirs():
    return [RES.model_dir(d, m, s) for d in DIRECTIONS for m in MODELS for s in SEEDS]


def final_outputs():
    refine = [RES.refine_file("summary.json")] if REFINE.in_all else []
    return [
        *estimator_metrics(),
        RES.dataset_file("dataset.json"),
        RES.metrics_summary(),
        RES.benchmark("surrogate"),
        *FIGURES,
        *refine,
    ]


def estimator_metrics():
    """The charge estimator's test metrics, one per seed (none when workflow.estimator is off)."""
    return [RES.estimator_metrics(s) for s in SEEDS] if WF.estimator else []


def evaluation_files(name):
    """One evaluation file (metrics.json, per_group.csv, ...) of every image model and seed."""
    return [RES.evaluation_file(name, d, m, s) for d in DIRECTIONS for m in MODELS for s in SEEDS]


FIGURES = [RES.figure(name, ext) for name in FIGURE_NAMES for ext in FIGURE_FORMATS]


# What each job asks of a cluster (config `cluster` section): threads (also locally) and the
# SLURM executor plugin's resources, a GPU only where the stage runs on CUDA.
def threads_of(rule):
    return _cluster.request(config, rule).cpus


def resources_of(rule):
    return _cluster.request(config, rule).resources()


# A dataset rebuild that fails keeps the previous dataset: Snakemake deletes a job's outputs before
# it runs and after it fails, so the current dataset's files are linked aside before a run that
# rebuilds it and put back (marked out of date) when the run ends without a new one
# (lacbed_bridge.dataset.keep). Main process only.
_KEPT = os.path.join(".snakemake", "lacbed-bridge", "previous-dataset")


def _keep_previous_dataset():
    if workflow.is_main_process and any(job.rule.name == "dataset" for job in workflow.dag.needrun_jobs()):
        _keep.keep(RES.dataset_dir(), _KEPT)


def _restore_previous_dataset():
    if not workflow.is_main_process:
        return
    if _keep.restore(RES.dataset_dir(), _KEPT):
        print(f"lacbed-bridge: {RES.dataset_dir()}: the rebuild failed; the previous dataset is kept (marked out of date, "
              "so the next run tries again)", file=sys.stderr)
    else:  # the new dataset was made (another job failed): the kept one is not needed
        _keep.discard(_KEPT)


# On a SLURM run, before anything is submitted: every job's request must fit a node of its
# partition, or the job would pend forever without a word (one line per problem, naming the rule,
# the resource and the config key).
onstart:
    if workflow.executor_plugin is not None and workflow.executor_plugin.name == "slurm":
        _jobs = {job.rule.name: job for job in workflow.dag.needrun_jobs()}
        _requests = [_cluster.Request.of_job(name, job.resources, job.threads) for name, job in sorted(_jobs.items())]
        _nodes, _default = _cluster.parse_sinfo(_cluster.query_sinfo())
        _problems = _cluster.check_fits(_requests, _nodes, _default)
        # job states: a cluster that forgets finished jobs before the plugin looks, and has no
        # accounting to ask instead, would leave the run waiting forever
        _first_check = getattr(workflow.executor_settings, "init_seconds_before_status_checks", 40) or 40
        _status_command = getattr(workflow.executor_settings, "status_command", None) or "squeue"
        _problems += _cluster.status_problems(_cluster.parse_scontrol_config(_cluster.query_scontrol_config()), 3 * int(_first_check),
                                              str(_status_command))
        if _problems:
            raise WorkflowError("the cluster cannot run these jobs (edit the config's `cluster` section):\n  " + "\n  ".join(_problems))
    _keep_previous_dataset()


onerror:
    _restore_previous_dataset()
    _say_unconverged()


def _say_unconverged():
    """The end of a run says how many discs of the dataset did not converge (issue: 12 of 12 did not
    and the batch log said "ok")."""
    path = RES.dataset_file("dataset.json")
    if workflow.is_main_process and os.path.isfile(path):
        try:
            with open(path) as handle:
                line = convergence_warning(json.load(handle))
        except (OSError, ValueError, KeyError, TypeError):
            return
        if line:
            print(f"lacbed-bridge: warning: {line}", file=sys.stderr)


onsuccess:
    if workflow.is_main_process:
        _keep.discard(_KEPT)
    _say_unconverged()
