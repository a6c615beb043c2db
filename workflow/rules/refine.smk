# Optional: how well refinement and the surrogate recover the charge δ from noisy test discs
# (docs/refine.md). Not part of `all` unless refine.in_all; run `snakemake refine_test`.
rule refine_test:
    input:
        info=RES.dataset_file("dataset.json"),
        models=[f"{d}/model.pt" for d in model_dirs() if "/lacbed2edd/" in d],
    output:
        summary=RES.refine_file("summary.json"),
        table=RES.refine_file("per_sample.csv"),
        figure=report(RES.refine_file("recovered_delta.png"), category="Refinement"),
        pdf=RES.refine_file("recovered_delta.pdf"),
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
        "--counts {params.counts:q} {params.n:q} --free {params.free:q} > {log:q} 2>&1 && "
        "{LB} refine-figure \"$(dirname {output.summary:q})\" >> {log:q} 2>&1"
