# The charge estimator (docs/surrogate.md §6): one per training seed, cross-fitted on the split's
# train subset (σ calibrated on out-of-fold crystals), then scored on its test subset: δ error and
# interval coverage.
rule train_estimator:
    input:
        info=RES.dataset_file("dataset.json"),
    output:
        model=RES.estimator_file("model.pt"),
        log_csv=RES.estimator_file("train_log.csv"),
    log:
        f"{L}/estimator/train_seed{{seed}}.log",
    params:
        estimator=config_hash(ESTIMATOR.to_dict()),
    threads: threads_of("train_estimator")
    resources:
        **resources_of("train_estimator"),
    conda:
        "../../envs/ml.yaml"
    shell:
        "{LB} train-estimator --dataset \"$(dirname {input.info:q})\" --seed {wildcards.seed:q} "
        "--out \"$(dirname {output.model:q})\" --config {EFFECTIVE:q} > {log:q} 2>&1"


rule evaluate_estimator:
    input:
        model=RES.estimator_file("model.pt"),
        info=RES.dataset_file("dataset.json"),
    output:
        metrics=RES.estimator_metrics(),
        per_sample=RES.estimator_evaluation_file("per_sample.csv"),
        per_group=RES.estimator_evaluation_file("per_group.csv"),
    log:
        f"{L}/estimator/evaluate_seed{{seed}}.log",
    params:
        split=ESTIMATOR.split,
    threads: threads_of("evaluate_estimator")
    resources:
        **resources_of("evaluate_estimator"),
    conda:
        "../../envs/ml.yaml"
    shell:
        "{LB} evaluate --model {input.model:q} --dataset \"$(dirname {input.info:q})\" --split {params.split:q} "
        "--out \"$(dirname {output.metrics:q})\" --config {EFFECTIVE:q} > {log:q} 2>&1"
