"""Results to Markdown tables and a PNG chart (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FormatStrFormatter  # noqa: E402

MODES = ("hybrid", "bm25", "dense")
CORPORA = ("seeds", "cmrc2018_trial")


def table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table; the first column left-aligned, the others right-aligned."""
    cells = [[str(cell) for cell in row] for row in rows]
    rule = "|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|"
    lines = ["| " + " | ".join(header) + " |", rule]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def targets(results: dict) -> list[list[object]]:
    """Each product target with the figure measured in this run and whether it is met."""
    rows = []
    query = results.get("query", {}).get("warm")
    if query:
        r, a = query["retrieve_over_encode_p50"], query["answer_over_encode_p50"]
        answer_ms = query["calls"]["answer"]["p50_ms"]
        rows.append(["seeds: retrieve() p50 ≤ 1.3× bare encode_query", f"{r:.2f}×", _verdict(r <= 1.3)])
        rows.append(["seeds: answer() p50 warm ≤ 150 ms (fused retrieval + reader)",
                     f"{answer_ms:.1f} ms ({a:.1f}× bare encode_query)", _verdict(answer_ms <= 150)])
    for corpus in results.get("build", {}).values():
        name, seconds, quiet = corpus["corpus"], corpus["rebuild_unchanged_s"], corpus["quiet_ratio"]
        rows.append([f"{name}: rebuild with nothing changed ≤ 2 s", f"{seconds:.2f} s",
                     _verdict(seconds <= 2)])
        rows.append([f"{name}: build throughput ≥ 0.9× raw model (quiet-machine estimate)",
                     f"{quiet:.2f}× (medians: {corpus['throughput_ratio']:.2f}×; model share "
                     f"{model_share(corpus):.2f}×)", _verdict(quiet >= 0.9)])
    cmrc = results.get("eval", {}).get("cmrc2018_trial")
    if cmrc:
        hit = {mode: cmrc["retrieval"][mode]["hit@1"] for mode in MODES}
        ok = hit["hybrid"] > max(hit["bm25"], hit["dense"])
        rows.append(["CMRC 2018 trial: fused hit@1 > BM25 and > dense",
                     f"{hit['hybrid']:.3f} vs {hit['bm25']:.3f} / {hit['dense']:.3f}", _verdict(ok)])
    rows += precision_targets(results.get("precision"))
    rows += serve_targets(results.get("serve"))
    big = results.get("scale", {}).get("sizes", {}).get("100000")
    if big:
        p50, recall = big["hnsw"]["search"]["p50_ms"], big["hnsw"]["recall@10"]
        rows.append(["100k chunks: HNSW search p50 ≤ 5 ms", f"{p50:.2f} ms", _verdict(p50 <= 5)])
        rows.append(["100k chunks: HNSW recall@10 ≥ 0.95", f"{recall:.3f}", _verdict(recall >= 0.95)])
    return rows


def precision_targets(precision: dict | None) -> list[list[object]]:
    """bf16 against fp32: build throughput ≥ 2×, encode_query p50 ≤ 0.6×, vectors' cosine ≥ 0.999, hit@1 and
    hit@5 within 0.005."""
    if not precision:
        return []
    rows = []
    for name in CORPORA:
        if name not in precision:
            continue
        corpus = precision[name]
        build = corpus["build"]["bf16_over_fp32_throughput"]
        rows.append([f"{name}: bf16 build throughput ≥ 2× fp32", f"{build:.2f}× (paired builds: "
                     f"{corpus['build']['paired_median_ratio']:.2f}×)", _verdict(build >= 2)])
        low = min(corpus["cosine_chunks"]["min"], corpus["cosine_questions"]["min"])
        rows.append([f"{name}: cosine bf16 vs fp32 ≥ 0.999 (every chunk and question)", f"min {low:.5f}",
                     _verdict(low >= 0.999)])
        worst = max(abs(value) for mode in corpus["quality_delta"].values() for value in mode.values())
        rows.append([f"{name}: hit@1 / hit@5 (fused, dense) within 0.005 of fp32", f"largest change {worst:.4f}",
                     _verdict(worst <= 0.005)])
    if "encode_query" in precision:
        query = precision["encode_query"]["bf16_over_fp32_p50"]
        rows.append(["encode_query p50 bf16 ≤ 0.6× fp32", f"{query:.2f}× (paired: "
                     f"{precision['encode_query']['paired_median_ratio']:.2f}×)", _verdict(query <= 0.6)])
    return rows


def at(values: dict, clients: int) -> float | None:
    """The figure for ``clients`` in a ratios table (integer keys in memory, strings once read from JSON)."""
    return values.get(clients, values.get(str(clients)))


def serve_targets(serve: dict | None) -> list[list[object]]:
    """The app under load: p50 at 8 clients ≤ 3× its 1-client p50, throughput at 8 clients ≥ 2.5× the
    baseline's, no errors or differing answers, memory flat, first answer ≤ 3 s after it says it runs."""
    if not serve:
        return []
    rows = []
    sweep = serve.get("sweep")
    if sweep:
        ratios = sweep["ratios"]
        p50 = at(ratios.get("current: p50 / its 1-client p50", {}), 8)
        if p50 is not None:
            rows.append(["8 clients: p50 ≤ 3× the 1-client p50", f"{p50:.2f}×", _verdict(p50 <= 3)])
        throughput = at(ratios.get("throughput: current / baseline", {}), 8)
        if throughput is not None:
            baseline = serve.get("baseline_commit") or "the baseline"
            rows.append([f"8 clients: throughput ≥ 2.5× the baseline's ({baseline})", f"{throughput:.2f}×",
                         _verdict(throughput >= 2.5)])
        rows.append(["load test: no errors, answers identical to the sequential ones",
                     f"{sweep['errors']} errors, {sweep['mismatches']} differing", _verdict(
                         not sweep["errors"] and not sweep["mismatches"])])
    memory = serve.get("memory")
    if memory:
        growth = memory.get("growth_mb", 0.0)
        rows.append([f"memory flat over {memory['requests_total']} requests (≤ 50 MB after round 1)",
                     f"{growth:+.0f} MB; {memory['errors']} errors, {memory['mismatches']} differing",
                     _verdict(not memory["problems"])])
    first = serve.get("first_answer", {}).get("current")
    if first:
        seconds = first["running_to_answer_s"]
        rows.append(["first answer ≤ 3 s after the server says it is running", f"{seconds:.2f} s",
                     _verdict(seconds <= 3)])
    return rows


def model_share(corpus: dict) -> float:
    """The seconds ``encode_documents`` took inside a build over the build's seconds: immune to load
    changing between runs, unlike the ratio to separate raw-encoding runs, but flattered by load that slows
    the model."""
    return corpus["build_model_s"] / corpus["build_s"] if corpus["build_s"] else 0.0


def machine_section(machine: dict) -> str:
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    return table(["machine", ""], [
        ["CPU", f"{machine['cpu']} ({machine.get('cpu_family_model', '')}; "
                f"{'virtual machine' if machine.get('cpu_virtualised') else 'bare metal'}; "
                f"AVX-512 {'yes' if machine.get('avx512') else 'no'})"],
        ["cores", machine["cores"]], ["RAM", f"{machine['ram_gib']} GiB"],
        ["OS", machine["os"]], ["Python", machine["python"]], ["packages", packages],
        ["threads (torch / faiss)", f"{machine['torch_threads']} / {machine['faiss_threads']}"],
        ["load average at start / end (1, 5, 15 min)",
         f"{machine['load_average_at_start']} / {machine.get('load_average_at_end', '')}"],
    ])


def build_section(build: dict) -> str:
    rows = [[c["corpus"], c["files"], c["chunks"], c["raw_chunks_per_s"], c["build_chunks_per_s"],
             f"{c['throughput_ratio']:.2f}×", c["build_s"], c["build_model_s"], c["build_overhead_s"],
             f"{model_share(c):.3f}×", f"{c['quiet_ratio']:.3f}×", c["first_build_chunks_per_s"],
             c["rebuild_unchanged_s"]] for c in build.values()]
    text = table(["corpus", "files", "chunks", "raw model chunks/s", "build chunks/s", "build / raw",
                  "build s", "model s in build", "other s in build", "model share", "quiet estimate",
                  "first build chunks/s", "rebuild unchanged s"], rows)
    runs = "; ".join(f"{c['corpus']}: raw {c['raw_encode_s_all']} s, builds {c['build_s_all']} s of which "
                     f"model {c['build_model_s_all']} s" for c in build.values())
    return text + (f"\n\nMedians of {next(iter(build.values()))['repeats']} alternated runs ({runs}). The spread "
                   "between repeats of the same work shows the load of other processes, which slows the model "
                   "far more than the rest of the build. \"Model share\" is the model's seconds inside a build "
                   "over the build's; \"quiet estimate\" is the fastest encoding of the texts seen in the run "
                   "over that plus the median seconds a build spends outside the model (the conservative "
                   "figure, used for the target). The first build of the run also loads jieba's dictionary.")


def query_section(query: dict) -> str:
    warm, cold = query["warm"], query["cold_start"]
    floor = warm["calls"]["encode_query"]["p50_ms"]
    rows = [[name, c["p50_ms"], c["p95_ms"], f"{c['p50_ms'] / floor:.2f}×"]
            for name, c in warm["calls"].items()]
    text = table(["call (seeds, warm)", "p50 ms", "p95 ms", "p50 / encode_query p50"], rows)
    paired = warm["paired_median_ratio"]
    text += (f"\n\n{warm['questions']} questions × {warm['rounds']} rounds; median of per-question ratios: "
             f"retrieve {paired['retrieve']:.2f}×, answer {paired['answer']:.2f}× the encoding of the same "
             "question.\n\n")
    if "threads" in query:
        text += table(["bare encode_query, same questions, alternated", "p50 ms", "p95 ms"],
                      [[name.removeprefix("encode_query_").replace("_", " "), c["p50_ms"], c["p95_ms"]]
                       for name, c in query["threads"].items()]) + "\n\n"
    text += table(["cold start (fresh process)", "seconds"], [
        ["import qa", cold["import_s"]], ["load index (default_engine)", cold["load_index_s"]],
        ["first answer (loads the model)", cold["first_answer_s"]],
        ["import qa → first answer", cold["import_to_answer_s"]],
        ["wall, with interpreter start", cold["wall_s"]],
    ])
    text += (f"\n\nPeak memory: {cold['peak_rss_mib']:.0f} MiB for a fresh process after its first answer "
             f"(VmHWM; its ru_maxrss, {cold['ru_maxrss_mib']:.0f} MiB, counts the parent's size at fork); "
             f"{query['peak_rss_mib']:.0f} MiB (ru_maxrss) for the benchmark process after the build and "
             "query phases.")
    return text


def scale_section(scale: dict) -> str:
    rows = []
    for n, size in scale["sizes"].items():
        flat, hnsw = size["flat"], size["hnsw"]
        rows.append([n, size["auto_index_type"], size["vectors_mib"],
                     flat["index_mib"], flat["build_s"], flat["search"]["p50_ms"], flat["search"]["p95_ms"],
                     hnsw["index_mib"], hnsw["build_s"], hnsw["search"]["p50_ms"], hnsw["search"]["p95_ms"],
                     f"{size['hnsw_over_flat_p50']:.3f}×", hnsw["recall@10"]])
    text = table(["chunks", "auto picks", "vectors MiB", "flat MiB", "flat build s", "flat p50 ms",
                  "flat p95 ms", "HNSW MiB", "HNSW build s", "HNSW p50 ms", "HNSW p95 ms", "HNSW / flat p50",
                  "HNSW recall@10"], rows)
    fit = scale["fit"]
    text += (f"\n\nSingle-query searches for the top {scale['depth']} (as the app asks), "
             f"{scale['queries']} real CMRC questions; HNSW M={scale['hnsw_m']}, "
             f"efConstruction={scale['ef_construction']}. Synthetic vectors fitted to {fit['real_vectors']} "
             f"real chunk vectors (τ={fit['tau']}): nearest-neighbour cosine "
             f"{fit['synthetic_neighbour_cosine']} vs real {fit['real_neighbour_cosine']}, pairwise "
             f"{fit['synthetic_pairwise_cosine']} vs real {fit['real_pairwise_cosine']}.\n\n")
    sweep_rows = [[n, row["ef_search"], row["search"]["p50_ms"], row["search"]["p95_ms"], row["recall@10"]]
                  for n, size in scale["sizes"].items() for row in size["hnsw"]["ef_sweep"]]
    return text + table(["chunks", "efSearch", "HNSW p50 ms", "HNSW p95 ms", "recall@10"], sweep_rows)


def eval_section(name: str, report: dict) -> str:
    modes = [mode for mode in MODES if mode in report["retrieval"]]
    data = report["dataset"]
    header = ["figure", *modes, *(f"hybrid / {mode}" for mode in modes[1:])]
    rows = []
    for group in ("retrieval", "answers"):
        for figure in report[group]["hybrid"]:
            values = [report[group][mode][figure] for mode in modes]
            ratios = [f"{values[0] / v:.2f}×" if v else "–" for v in values[1:]]
            rows.append([figure, *(v if isinstance(v, int) else f"{v:.3f}" for v in values), *ratios])
    latency = report["latency"]
    for quantile in ("p50", "p95"):
        values = [latency[f"retrieve_{mode}_{quantile}_ms"] for mode in modes]
        rows.append([f"retrieve {quantile} ms", *(f"{v:.1f}" for v in values),
                     *(f"{values[0] / v:.2f}×" if v else "–" for v in values[1:])])
    text = (f"**{name}**: {data['questions']} questions ({data['answerable']} answerable), "
            f"{data['files']} files, {data['chunks']} chunks, {data['index_type']} index; answer() p50 "
            f"{latency['answer_p50_ms']:.1f} ms, p95 {latency['answer_p95_ms']:.1f} ms.\n\n")
    return text + table(header, rows)


def precision_section(precision: dict) -> str:
    """bf16 against fp32: throughput and latency with their ratios, agreement, quality."""
    rows = []
    for name in CORPORA:
        if name in precision:
            build = precision[name]["build"]
            rows.append([f"build {name} ({build['chunks']} chunks), chunks/s", build["fp32_chunks_per_s"],
                         build["bf16_chunks_per_s"], f"{build['bf16_over_fp32_throughput']:.2f}×",
                         f"{build['paired_median_ratio']:.2f}×"])
    for key, label in (("encode_query", "encode_query p50 ms"), ("reader", "reader.read p50 ms")):
        if key in precision:
            figures = precision[key]
            rows.append([label, figures["fp32"]["p50_ms"], figures["bf16"]["p50_ms"],
                         f"{figures['bf16_over_fp32_p50']:.2f}×", f"{figures['paired_median_ratio']:.2f}×"])
            rows.append([label.replace("p50", "p95"), figures["fp32"]["p95_ms"], figures["bf16"]["p95_ms"], "", ""])
    text = table(["figure", "fp32", "bf16", "bf16 / fp32", "paired median"], rows)
    text += ("\n\nThroughput ratios are fp32 seconds over bf16 seconds (higher: bf16 faster); latency ratios bf16 "
             "over fp32 (lower: bf16 faster). \"Paired median\": the median of the ratios of runs made back to "
             "back, the precision that goes first alternating.\n\n")
    agreement = []
    for name in CORPORA:
        for kind in ("chunks", "questions"):
            if name in precision:
                c = precision[name][f"cosine_{kind}"]
                agreement.append([f"{name} {kind}", c["n"], c["min"], c["p1"], c["p5"], c["p50"], c["mean"],
                                  c["below_0.999"]])
    text += table(["cosine bf16 vs fp32", "n", "min", "p1", "p5", "median", "mean", "< 0.999"], agreement)
    quality = []
    for name in CORPORA:
        if name in precision:
            q = precision[name]["quality"]
            for mode in ("hybrid", "dense"):
                for k in ("hit@1", "hit@5"):
                    quality.append([f"{name} {mode} {k}", f"{q['fp32'][mode][k]:.4f}", f"{q['bf16'][mode][k]:.4f}",
                                    f"{precision[name]['quality_delta'][mode][k]:+.4f}"])
    text += "\n\n" + table(["retrieval (each precision over its own index)", "fp32", "bf16", "change"], quality)
    if "reader" in precision:
        reader = precision["reader"]
        text += (f"\n\nReader: {reader['questions']} development questions, top {reader['passages']} passages "
                 f"read in one forward pass ({reader['windows_mean']} windows on average); bf16 and fp32 pick "
                 f"the same best span for {reader['same_best_span']} of {reader['questions']}.")
    return text


def serve_section(serve: dict) -> str:
    """First answer after start, the client sweep and the memory run."""
    parts = []
    first = serve.get("first_answer", {})
    if first:
        rows = [[name, f["start_to_running_s"], f["start_to_model_ready_s"], f["running_to_answer_s"],
                 f["start_to_answer_s"]] for name, f in first.items()]
        parts.append(table(["first answer (median of fresh starts)", "start → says running s",
                            "start → model ready s", "running → first answer s", "start → first answer s"], rows))
    sweep = serve.get("sweep")
    if sweep:
        rows = []
        for name, entry in sweep["apps"].items():
            rows.append([f"{name}, sequential reference", 1, f"{entry['sequential_p50'] * 1000:.0f}",
                         f"{entry['sequential_p95'] * 1000:.0f}", "", "", ""])
            for r in entry["rounds"]:
                rows.append([name, r["clients"], f"{r['p50'] * 1000:.0f}", f"{r['p95'] * 1000:.0f}",
                             f"{r['per_second']:.2f}", len(r["errors"]), len(r["mismatches"])])
        parts.append(table(["app", "clients", "p50 ms", "p95 ms", "answers/s", "errors", "differing"], rows))
        ratio_rows = [[name, *(f"{at(values, c):.2f}×" for c in sweep["counts"])]
                      for name, values in sweep["ratios"].items()]
        parts.append(table(["ratio", *(f"{c} clients" for c in sweep["counts"])], ratio_rows))
        parts.append(f"{sweep['per_round']} requests per round ({sweep['distinct_requests']} distinct), the apps "
                     "alternated count by count; chart: `loadtest.png`.")
    memory = serve.get("memory")
    if memory:
        readings = ", ".join(f"{name} {value:.0f}" for name, value in memory["memory_mb"].items())
        parts.append(f"Memory (RSS MB) over {memory['requests_total']} requests at 8 clients: {readings}; "
                     f"MALLOC_ARENA_MAX {memory['malloc_arena_max']}.")
    return "\n\n".join(parts)


def markdown(results: dict) -> str:
    """The whole results page."""
    parts = ["# Benchmark results", "", "Generated by `python benchmarks/run.py`; every figure is in "
             "`benchmarks.json`. Ratios compare with a baseline measured in the same run.", "",
             machine_section(results["machine"]), "", "## Targets", "",
             table(["target", "measured", ""], targets(results))]
    if "build" in results:
        parts += ["", "## Build", "", build_section(results["build"])]
    if "query" in results:
        parts += ["", "## Query", "", query_section(results["query"])]
    if "scale" in results:
        parts += ["", "## Scale (synthetic vectors, dim 384)", "", scale_section(results["scale"])]
    if "precision" in results:
        parts += ["", "## Precision: bf16 against fp32", "", precision_section(results["precision"])]
    if "serve" in results:
        parts += ["", "## Serving: many users, first answer", "", serve_section(results["serve"])]
    for name, report in results.get("eval", {}).items():
        parts += ["", f"## Quality: {name}", "", eval_section(name, report)]
    return "\n".join(parts) + "\n"


def chart(results: dict, path: Path) -> None:
    """Four panels: query latency, build throughput, search latency by corpus size, HNSW recall vs latency."""
    figure, axes = plt.subplots(2, 2, figsize=(12, 9))
    if "query" in results:
        calls = results["query"]["warm"]["calls"]
        names = list(calls)
        axes[0, 0].bar(names, [calls[n]["p50_ms"] for n in names], color="tab:blue", label="p50")
        axes[0, 0].scatter(names, [calls[n]["p95_ms"] for n in names], color="tab:red", zorder=3, label="p95")
        floor = calls["encode_query"]["p50_ms"]
        for factor, style in ((1.3, ":"), (2.0, "--")):
            axes[0, 0].axhline(factor * floor, color="grey", linestyle=style, linewidth=0.8,
                               label=f"{factor}× encode_query p50")
        axes[0, 0].set(title="Warm query latency (seeds)", ylabel="ms")
        axes[0, 0].tick_params(axis="x", rotation=20)
        axes[0, 0].legend(fontsize=8, loc="upper right")
    if "build" in results:
        corpora = list(results["build"].values())
        x = range(len(corpora))
        axes[0, 1].bar([i - 0.2 for i in x], [c["raw_chunks_per_s"] for c in corpora], 0.4,
                       label="raw model")
        axes[0, 1].bar([i + 0.2 for i in x], [c["build_chunks_per_s"] for c in corpora], 0.4,
                       label="qa build")
        axes[0, 1].set_xticks(list(x), [c["corpus"] for c in corpora])
        axes[0, 1].set(title="Embedding throughput", ylabel="chunks / s")
        axes[0, 1].legend()
    if "scale" in results:
        sizes = results["scale"]["sizes"]
        labels = list(sizes)
        x = range(len(labels))
        axes[1, 0].bar([i - 0.2 for i in x], [sizes[n]["flat"]["search"]["p50_ms"] for n in labels], 0.4,
                       label="flat (exact)")
        axes[1, 0].bar([i + 0.2 for i in x], [sizes[n]["hnsw"]["search"]["p50_ms"] for n in labels], 0.4,
                       label="HNSW")
        axes[1, 0].set_xticks(list(x), [f"{int(n):,} chunks" for n in labels])
        axes[1, 0].set(title="Single-query search p50, top 50", ylabel="ms (log scale)", yscale="log")
        axes[1, 0].yaxis.set_major_formatter(FormatStrFormatter("%g"))
        axes[1, 0].yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        axes[1, 0].axhline(5.0, color="grey", linestyle="--", linewidth=0.8, label="5 ms target")
        axes[1, 0].legend()
        for n in labels:
            sweep = sizes[n]["hnsw"]["ef_sweep"]
            axes[1, 1].plot([r["search"]["p50_ms"] for r in sweep], [r["recall@10"] for r in sweep],
                            marker="o", label=f"{int(n):,} chunks")
            for r in sweep:
                axes[1, 1].annotate(str(r["ef_search"]), (r["search"]["p50_ms"], r["recall@10"]), fontsize=7)
        axes[1, 1].axhline(0.95, color="grey", linestyle="--", linewidth=0.8)
        axes[1, 1].set(title="HNSW: recall@10 vs p50 (labels: efSearch)", xlabel="ms", ylabel="recall@10")
        axes[1, 1].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
