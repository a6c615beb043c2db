# Paper figures (PNG + PDF) from results/ only; each is in the Snakemake report.
rule figures:
    input:
        info=RES.dataset_file("dataset.json"),
        summary=RES.metrics_summary(),
        bench=RES.benchmark("surrogate"),
        # figure (d) also shows the simulator, Felix and the drop-in on Felix's reference cases
        simulator=RES.benchmark("simulator"),
        # figure (d) reads the simulator's timings from the discs' metadata, listed by the batches
        simulated=batch_manifests("lacbed"),
        # figure (c) reads the training logs; the checkpoints are only looked for (a model is shown
        # where its training finished), never loaded
        train_logs=[f"{d}/train_log.csv" for d in model_dirs()],
        checkpoints=[f"{d}/model.pt" for d in model_dirs()],
        # figure (a) shows the stored predictions, (b) also their charge metrics, (e) the per-group scores
        predictions=evaluation_files("predictions.tif"),
        metrics=evaluation_files("metrics.json"),
        per_sample=evaluation_files("per_sample.csv"),
        per_group=evaluation_files("per_group.csv"),
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
