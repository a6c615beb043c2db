# Shared Python of the workflow: validate the config once, derive families, batches, models.
import json
import os
import re
import shlex
import sys
import time

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


# Damaged results are redone by Snakemake's own rerun triggers, and nothing is deleted. Before
# Snakemake builds its DAG, the main process checks every batch manifest (its images: missing,
# another size than recorded, pixels changed) and the dataset (its stacks, manifest and split
# tables against dataset.json); for each damaged one it writes a *damage stamp* under Snakemake's
# folder (never in results/): one line saying when the damage was found, then the problems. The
# rules read the stamp only where it exists, so results made before a stamp exists (or by a
# version of this workflow without stamps) keep their recorded params and inputs, and nothing
# reruns on upgrade:
#   - a batch rule's family_hash param is the family's hash, followed by the stamp's first line
#     where the batch has a stamp: a new damage makes it differ from the value recorded when the
#     batch was last made, the batch job reruns (Snakemake's params trigger), recomputes the
#     damaged images and reuses the intact ones. The value stays the same until the next damage,
#     so the run after the repair has nothing to do (a "damaged"/"ok" param would flip back and
#     rerun the batch once more). Not an input: the batch commands pass `$(dirname {input})`, and
#     another shell command is another recorded code to Snakemake, which would rerun every batch
#     of existing results;
#   - the dataset rule (its command names its inputs) takes its stamp as an input: newer than
#     dataset.json and with other content than Snakemake recorded (it skips a newer input whose
#     checksum it recorded, so a stamp only touched would not do; its first appearance also
#     changes the input set), so the dataset is rebuilt.
# The dataset follows a redone batch as any job follows its updated input, and what depends on
# the dataset follows it. A dry run (and --summary, --report, ...) writes stamps too: that loses
# nothing and shows what a run will redo; a damage repaired by hand after such a stamp only costs
# one rerun of the batch (every image reused) and what follows it. A stamp is kept after the repair (its first line is
# part of what Snakemake recorded): deleting the damage/ folder reruns the batches it names once.
DAMAGE = os.path.join(".snakemake", "lacbed-bridge", "damage")


def damage_stamp(output):
    """The damage stamp of a rule's output (a batch manifest, dataset.json): its path under DAMAGE."""
    key = os.path.normpath(output).lstrip(os.sep).replace("..", "%2E%2E")
    return os.path.join(DAMAGE, key + ".stamp")


def _stamp_line(output):
    """The first line of ``output``'s damage stamp ("" when it has none)."""
    try:
        with open(damage_stamp(output)) as handle:
            return handle.readline().strip()
    except OSError:
        return ""


def batch_family_hash(stage):
    """The family_hash param of the batch rules (``stage`` may be the pattern "{kind}"): the family's
    config hash, and the first line of the batch's damage stamp where one exists."""

    def value(wildcards):
        found = _stamp_line(RES.batch_manifest(stage.format(**dict(wildcards.items())), wildcards.family, wildcards.batch))
        return f"{family_hash(wildcards)} {found}" if found else family_hash(wildcards)

    return value


def dataset_damage(wildcards):
    """The dataset rule's input: the dataset's damage stamp, where one exists."""
    stamp = damage_stamp(RES.dataset_file("dataset.json"))
    return [stamp] if os.path.isfile(stamp) else []


def _mark_damaged():
    """Write the damage stamp of every damaged batch and of a damaged dataset, one line each on
    stderr. Main Snakemake process only (a cluster job parses this file too)."""
    if not workflow.is_main_process:
        return
    # another Snakemake holding this folder's lock may be writing these files (an image half
    # written looks damaged): then only report, or the batch it is making would be redone again
    locks = os.path.join(".snakemake", "locks")
    locked = os.path.isdir(locks) and any(name.endswith(".lock") for name in os.listdir(locks))

    def mark(output, label, problems, then):
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        if locked:
            print(f"lacbed-bridge: {label} ({shown}); another Snakemake holds the lock, so this run does not mark it",
                  file=sys.stderr)
            return
        from lacbed_bridge.io import write_text_atomic  # here: tifffile is not worth every Snakemake start-up

        found = f"damage found {time.strftime('%Y-%m-%dT%H:%M:%S%z')} ({time.time_ns()})"
        write_text_atomic(damage_stamp(output), found + "\n" + "\n".join(problems) + "\n")
        print(f"lacbed-bridge: {label} ({shown}); {then}", file=sys.stderr)

    for stage in STAGES:
        for manifest in batch_manifests(stage):
            problems = manifest_problems(manifest) if os.path.isfile(manifest) else []
            if problems:
                mark(manifest, f"{manifest}: damaged images", problems, "a run redoes this batch")
    # the dataset's own files: a stack truncated or replaced, or one changed after the build
    # (checked deeply only then)
    dataset_json = RES.dataset_file("dataset.json")
    if os.path.isfile(dataset_json):
        try:
            problems = dataset_problems(os.path.dirname(dataset_json), changed_after=os.stat(dataset_json).st_mtime)
        except InputError as exc:  # dataset.json itself unreadable
            problems = [str(exc)]
        if problems:
            mark(dataset_json, f"{RES.dataset_dir()}: damaged", problems, "a run rebuilds the dataset")


_mark_damaged()


def model_dirs():
    return [RES.model_dir(d, m, s) for d in DIRECTIONS for m in MODELS for s in SEEDS]


def final_outputs():
    refine = [RES.refine_file("summary.json")] if REFINE.in_all else []
    return [
        *estimator_metrics(),
        RES.dataset_file("dataset.json"),
        RES.metrics_summary(),
        RES.benchmark("surrogate"),
        RES.benchmark("simulator"),
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
