# Crystal families: CIFs + variants.csv per family (seeded; byte-identical for the same config).
rule variants:
    output:
        f"{R}/variants/{{family}}/variants.csv",
    log:
        f"{L}/variants/{{family}}.log",
    params:
        family_hash=family_hash,
        seed=config["seed"],
    conda:
        "../../envs/sim.yaml"
    shell:
        "lacbed-bridge variants {EFFECTIVE} --family {wildcards.family} --out $(dirname {output}) > {log} 2>&1"
