# LACBED (000) discs, one job per batch of workflow.batch_size crystals. A failed sample is
# recorded in the batch manifest (and a <id>.failed marker); the batch still succeeds. A batch
# found damaged (common.smk, damage stamps) is redone through its family_hash param.
rule simulate:
    input:
        RES.variants(),
    output:
        RES.batch_manifest("lacbed"),
    log:
        f"{L}/simulate/{{family}}/batch_{{batch}}.log",
    params:
        simulation=stage_hash(config, "lacbed"),
        family_hash=batch_family_hash("lacbed"),
    threads: threads_of("simulate")
    resources:
        **resources_of("simulate"),
    conda:
        "../../envs/sim.yaml"
    shell:
        "{LB} batch lacbed --config {EFFECTIVE:q} --family {wildcards.family:q} --batch {wildcards.batch:q} "
        "--cif-dir \"$(dirname {input:q})\" --out-dir \"$(dirname {output:q})\" --manifest {output:q} > {log:q} 2>&1"
