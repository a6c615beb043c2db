# Stacks, manifest, dataset-wide normalisation and splits; failed/missing samples are listed
# and excluded with a count (dataset.json, excluded.csv). A dataset found damaged (common.smk)
# is rebuilt through its damage stamp, an input only once it exists.
rule dataset:
    input:
        variants=[RES.variants(f) for f in FAMILIES],
        lacbed=batch_manifests("lacbed"),
        edd=batch_manifests("edd"),
        deformation=batch_manifests("deformation"),
        damage=dataset_damage,
    output:
        info=RES.dataset_file("dataset.json"),
        manifest=RES.dataset_file("manifest.csv"),
        edd=RES.dataset_file("edd.tif"),
        lacbed=RES.dataset_file("lacbed.tif"),
        deformation=RES.dataset_file("deformation.tif"),
        # the split tables the models read (the dataset writes every split of dataset.splits)
        splits=list(dict.fromkeys([RES.split_table(SPLIT), RES.split_table(ESTIMATOR.split)])),
    log:
        f"{L}/dataset.log",
    params:
        dataset=config_hash(config.get("dataset") or {}),
        edd_root=RES.stage_root("edd"),
        lacbed_root=RES.stage_root("lacbed"),
        deformation_root=RES.stage_root("deformation"),
    threads: threads_of("dataset")
    resources:
        **resources_of("dataset"),
    conda:
        "../../envs/sim.yaml"
    shell:
        "{LB} dataset --variants {input.variants:q} --edd-root {params.edd_root:q} --lacbed-root {params.lacbed_root:q} "
        "--deformation-root {params.deformation_root:q} "
        "--out \"$(dirname {output.info:q})\" --config {EFFECTIVE:q} > {log:q} 2>&1"
