# Paper figures (PNG + PDF) from results/ only; each is in the Snakemake report.
rule figures:
    input:
        info=f"{R}/dataset/dataset.json",
        summary=f"{R}/metrics/summary.csv",
        bench=f"{R}/benchmarks/surrogate.json",
        # figure (c) reads the training logs; the checkpoints are only looked for (a model is shown
        # where its training finished), never loaded
        train_logs=[f"{d}/train_log.csv" for d in model_dirs()],
        checkpoints=[f"{d}/model.pt" for d in model_dirs()],
        predictions=[f"{R}/metrics/{d}/{m}/seed{s}/predictions.tif" for d in DIRECTIONS for m in MODELS for s in SEEDS],
        # figure (e) shows the charge estimator's δ error and interval coverage beside the models'
        estimator=estimator_metrics(),
    output:
        [report(f, category="Figures") if f.endswith(".png") else f for f in FIGURES],
    log:
        f"{L}/figures.log",
    params:
        n=WF.n_figure_samples,
    threads: threads_of("figures")
    resources:
        **resources_of("figures"),
    conda:
        "../../envs/ml.yaml"
    shell:
        "{LB} figures --results {R:q} --config {EFFECTIVE:q} --out \"$(dirname {output[0]:q})\" > {log:q} 2>&1"
