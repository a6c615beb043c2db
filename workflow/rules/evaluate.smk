# Score each model on its split's test subset; then one summary table (docs/architecture.md §7).
rule evaluate:
    input:
        model=f"{R}/models/{{direction}}/{{model}}/seed{{seed}}/model.pt",
        info=f"{R}/dataset/dataset.json",
    output:
        metrics=f"{R}/metrics/{{direction}}/{{model}}/seed{{seed}}/metrics.json",
        predictions=f"{R}/metrics/{{direction}}/{{model}}/seed{{seed}}/predictions.tif",
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
        [f"{R}/metrics/{d}/{m}/seed{s}/metrics.json" for d in DIRECTIONS for m in MODELS for s in SEEDS],
    output:
        f"{R}/metrics/summary.csv",
    log:
        f"{L}/metrics_summary.log",
    threads: threads_of("metrics_summary")
    resources:
        **resources_of("metrics_summary"),
    conda:
        "../../envs/ml.yaml"
    shell:
        "{LB} metrics-summary {input:q} --out {output:q} > {log:q} 2>&1"
