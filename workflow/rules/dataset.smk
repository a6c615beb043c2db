# Stacks, manifest, dataset-wide normalisation and splits; failed/missing samples are listed
# and excluded with a count (dataset.json, excluded.csv).
rule dataset:
    input:
        variants=expand(f"{R}/variants/{{family}}/variants.csv", family=FAMILIES),
        lacbed=batch_manifests("lacbed"),
        edd=batch_manifests("edd"),
        deformation=batch_manifests("deformation"),
    output:
        info=f"{R}/dataset/dataset.json",
        manifest=f"{R}/dataset/manifest.csv",
        edd=f"{R}/dataset/edd.tif",
        lacbed=f"{R}/dataset/lacbed.tif",
        deformation=f"{R}/dataset/deformation.tif",
    log:
        f"{L}/dataset.log",
    params:
        dataset=config_hash(config.get("dataset") or {}),
    threads: threads_of("dataset")
    resources:
        **resources_of("dataset"),
    conda:
        "../../envs/sim.yaml"
    shell:
        "{LB} dataset --variants {input.variants:q} --edd-root {R:q}/edd --lacbed-root {R:q}/lacbed "
        "--deformation-root {R:q}/deformation "
        "--out \"$(dirname {output.info:q})\" --config {EFFECTIVE:q} > {log:q} 2>&1"
