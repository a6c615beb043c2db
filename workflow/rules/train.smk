# One training job per direction x model x seed (GPU on a cluster: resources gpu=1). An interrupted
# job resumes from last.pt when it belongs to the same run; otherwise it starts again.
rule train:
    input:
        info=RES.dataset_file("dataset.json"),
    output:
        model=RES.checkpoint(),
        log_csv=RES.train_log(),
    log:
        f"{L}/train/{{direction}}_{{model}}_seed{{seed}}.log",
    params:
        train=config_hash(TRAIN.to_dict()),
    threads: threads_of("train")
    resources:
        **resources_of("train"),
    conda:
        "../../envs/ml.yaml"
    shell:
        "{LB} train --dataset \"$(dirname {input.info:q})\" --direction {wildcards.direction:q} "
        "--model {wildcards.model:q} --seed {wildcards.seed:q} --out \"$(dirname {output.model:q})\" "
        "--config {EFFECTIVE:q} --resume-if-compatible > {log:q} 2>&1"
