# Score each model on its split's test subset; then one summary table (docs/architecture.md §7).
rule evaluate:
    input:
        model=RES.checkpoint(),
        info=RES.dataset_file("dataset.json"),
    output:
        metrics=RES.evaluation_file("metrics.json"),
        per_sample=RES.evaluation_file("per_sample.csv"),
        per_group=RES.evaluation_file("per_group.csv"),
        predictions=RES.evaluation_file("predictions.tif"),
    log:
        f"{L}/evaluate/{{direction}}_{{model}}_seed{{seed}}.log",
    params:
        split=SPLIT,
    threads: threads_of("evaluate")
    resources:
        **resources_of("evaluate"),
    conda:
        "../../envs/ml.yaml"
    shell:
        "{LB} evaluate --model {input.model:q} --dataset \"$(dirname {input.info:q})\" --split {params.split:q} "
        "--out \"$(dirname {output.metrics:q})\" --config {EFFECTIVE:q} > {log:q} 2>&1"


rule metrics_summary:
    input:
        evaluation_files("metrics.json"),
    output:
        summary=RES.metrics_summary(),
        seeds=RES.metrics_summary_seeds(),
    log:
        f"{L}/metrics_summary.log",
    threads: threads_of("metrics_summary")
    resources:
        **resources_of("metrics_summary"),
    conda:
        "../../envs/ml.yaml"
    shell:
        "{LB} metrics-summary {input:q} --out {output.summary:q} > {log:q} 2>&1"
