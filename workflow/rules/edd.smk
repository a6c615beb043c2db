# Projected electron-density images, batched like the simulations.
rule edd:
    input:
        f"{R}/variants/{{family}}/variants.csv",
    output:
        f"{R}/edd/{{family}}/batch_{{batch}}.csv",
    log:
        f"{L}/edd/{{family}}/batch_{{batch}}.log",
    params:
        edd=stage_hash(config, "edd"),
        family_hash=family_hash,
    group:
        "edd"
    conda:
        "../../envs/sim.yaml"
    shell:
        "lacbed-bridge batch edd --config {EFFECTIVE} --family {wildcards.family} --batch {wildcards.batch} "
        "--cif-dir $(dirname {input}) --out-dir $(dirname {output}) --manifest {output} > {log} 2>&1"
