# Crystal families: CIFs + variants.csv per family (seeded; byte-identical for the same config).
rule variants:
    input:
        user_cifs,
    output:
        RES.variants(),
    log:
        f"{L}/variants/{{family}}.log",
    params:
        family_hash=family_hash,
        prototype_hash=prototype_hash,
        seed=config["seed"],
    threads: threads_of("variants")
    resources:
        **resources_of("variants"),
    conda:
        "../../envs/sim.yaml"
    shell:
        "{LB} variants {EFFECTIVE:q} --family {wildcards.family:q} --out \"$(dirname {output:q})\" > {log:q} 2>&1"
