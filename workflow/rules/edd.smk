# Projected electron-density images, batched like the simulations: the total density (edd/) and
# the deformation density ρ − ρ_IAM of the same crystal (deformation/), one rule for both kinds.
# A batch found damaged (common.smk, damage stamps) is redone through its family_hash param.
rule edd:
    input:
        RES.variants(),
    output:
        RES.batch_manifest("{kind}"),
    log:
        f"{L}/{{kind}}/{{family}}/batch_{{batch}}.log",
    wildcard_constraints:
        kind="edd|deformation",
    params:
        edd=stage_hash(config, "edd"),
        family_hash=batch_family_hash("{kind}"),
    threads: threads_of("edd")
    resources:
        **resources_of("edd"),
    conda:
        "../../envs/sim.yaml"
    shell:
        "{LB} batch {wildcards.kind:q} --config {EFFECTIVE:q} --family {wildcards.family:q} --batch {wildcards.batch:q} "
        "--cif-dir \"$(dirname {input:q})\" --out-dir \"$(dirname {output:q})\" --manifest {output:q} > {log:q} 2>&1"
