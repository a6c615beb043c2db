# Optional: how well refinement and the surrogate recover the charge δ from noisy test discs
# (docs/refine.md). Not part of `all` unless refine.in_all; run `snakemake refine_test`.
rule refine_test:
    input:
        info=f"{R}/dataset/dataset.json",
        models=[f"{d}/model.pt" for d in model_dirs() if "/lacbed2edd/" in d],
    output:
        summary=f"{R}/refine/summary.json",
        table=f"{R}/refine/per_sample.csv",
        figure=report(f"{R}/refine/recovered_delta.png", category="Refinement"),
        pdf=f"{R}/refine/recovered_delta.pdf",
    log:
        f"{L}/refine_test.log",
    params:
        counts=REFINE.counts,
        n=["--n", REFINE.n] if REFINE.n else [],  # a list: :q quotes each word, an empty one writes nothing
        free=REFINE.free,
    threads: threads_of("refine_test")
    resources:
        **resources_of("refine_test"),
    conda:
        "../../envs/ml.yaml"
    shell:
        "{LB} refine-test --results {R:q} --config {EFFECTIVE:q} --out \"$(dirname {output.summary:q})\" "
        "--counts {params.counts:q} {params.n:q} --free {params.free:q} > {log:q} 2>&1"
