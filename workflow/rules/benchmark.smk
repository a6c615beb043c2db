# Surrogate speed (latency, throughput) next to the simulator's time per pattern of this dataset.
rule benchmark_surrogate:
    input:
        info=RES.dataset_file("dataset.json"),
    output:
        RES.benchmark("surrogate"),
    log:
        f"{L}/benchmark_surrogate.log",
    params:
        quick=["--quick"] if WF.benchmark_quick else [],  # a list: :q quotes each word, an empty one writes nothing
        device="cuda" if GPU_TRAIN else "cpu",
        side=2 * config["simulation"]["pixel_count"],
        ngf=TRAIN.ngf,
    threads: threads_of("benchmark_surrogate")
    resources:
        **resources_of("benchmark_surrogate"),
    conda:
        "../../envs/ml.yaml"
    shell:
        "{PY} {BENCHMARKS:q}/surrogate.py {params.quick:q} --device {params.device:q} "
        "--side {params.side:q} --ngf {params.ngf:q} --dataset \"$(dirname {input.info:q})\" --json-out {output:q} > {log:q} 2>&1"


# The builtin simulator on Felix's reference cases (figure d), beside Felix and our drop-in, both
# whole processes on one thread: timed live when FELIX_EXECUTABLE names a Felix binary, else the
# times recorded in tests/data/felix_reference/timings.json, each labelled with its source.
rule benchmark_simulator:
    output:
        RES.benchmark("simulator"),
    log:
        f"{L}/benchmark_simulator.log",
    params:
        quick=["--quick"] if WF.benchmark_quick else [],
    threads: threads_of("benchmark_simulator")
    resources:
        **resources_of("benchmark_simulator"),
    conda:
        "../../envs/sim.yaml"
    shell:
        "{PY} {BENCHMARKS:q}/simulator.py {params.quick:q} --sections reference --json-out {output:q} > {log:q} 2>&1"
