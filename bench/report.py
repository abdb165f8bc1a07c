"""bench/results/report.md and its PNG plots from a results dict (results.json): the targets
first (met or not, with the measured ratio), then one section per comparison, the profiles of
the misses, and the caveats. Plots use matplotlib's Agg backend (no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.targets import Target, evaluate


def _fmt(x: Any, digits: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def _mm(s: dict[str, Any] | None, digits: int = 2) -> str:
    """'median [min-max]' of a summary."""
    if not s or s.get("median") is None:
        return "-"
    return f"{_fmt(s['median'], digits)} [{_fmt(s['min'], digits)}-{_fmt(s['max'], digits)}]"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _verdict(t: Target) -> str:
    return "not measured" if t.met is None else ("**met**" if t.met else "**missed**")


def _plot_bars(
    path: Path,
    title: str,
    labels: list[str],
    series: dict[str, list[Any]],
    unit: str,
    *,
    log: bool = False,
) -> str:
    """Horizontal bars (median) with min-max whiskers; series: name -> list of summaries."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    height = max(2.5, 0.45 * len(labels) * len(series) + 1)
    fig, ax = plt.subplots(figsize=(9, height))
    bar = 0.8 / max(1, len(series))
    for i, (name, summaries) in enumerate(series.items()):
        med = [s["median"] if s and s.get("median") is not None else 0 for s in summaries]
        pairs = list(zip(med, summaries, strict=True))
        lo = [m - (s["min"] if s and s.get("min") is not None else m) for m, s in pairs]
        hi = [(s["max"] if s and s.get("max") is not None else m) - m for m, s in pairs]
        ys = [y + i * bar for y in range(len(labels))]
        ax.barh(ys, med, height=bar, xerr=[lo, hi], capsize=3, label=name)
    ax.set_yticks([y + bar * (len(series) - 1) / 2 for y in range(len(labels))], labels)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    if log:
        ax.set_xscale("log")
    ax.set_title(title)
    if len(series) > 1:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def _plot_growth(path: Path, scale: dict[str, Any]) -> str:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(9, 4))
    for name, row in scale.items():
        samples = (row.get("attach") or {}).get("samples_ms")
        if samples:
            ax.plot(range(1, len(samples) + 1), samples, ".", markersize=2, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("attach number (sandboxes already on the network + 1)")
    ax.set_ylabel("ms per attach")
    ax.set_title("Per-attach time as the network fills")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def _attach(results: dict[str, Any], out: Path) -> list[str]:
    rows_in = results["attach"]  # present, without an error: see _section
    floor = rows_in.get("floor (pyroute2)", {}).get("attach", {}).get("median")
    docker = rows_in.get("docker API", {}).get("attach", {}).get("median")
    rows = []
    for name, row in rows_in.items():
        a, d = row["attach"], row["detach"]
        rows.append(
            [
                name,
                _mm(a),
                _mm(d),
                _fmt(a["median"] / floor if floor else None),
                _fmt(docker / a["median"] if docker else None),
            ]
        )
    names = list(rows_in)
    png = _plot_bars(
        out / "attach.png",
        "Attach / detach latency (median, min-max)",
        names,
        {
            "attach": [rows_in[n]["attach"] for n in names],
            "detach": [rows_in[n]["detach"] for n in names],
        },
        "ms (log)",
        log=True,
    )
    return [
        *_table(
            ["system", "attach ms", "detach ms", "attach / floor", "docker API / attach"], rows
        ),
        "",
        f"![attach]({png})",
    ]


def _scale(results: dict[str, Any], out: Path) -> list[str]:
    scale = results["scale"]  # present, without an error: see _section
    rows = []
    for name, r in scale.items():
        rss = r.get("rss_kb_with_endpoints", {})
        rules = r.get("rules_after_networks")
        rows.append(
            [
                name,
                _fmt(r.get("containers", r.get("sandboxes"))),
                _fmt(r.get("attach_total_s", r.get("total_s"))),
                _fmt(r["attach"]["first10_median_ms"]),
                _fmt(r["attach"]["last10_median_ms"]),
                _fmt(r["attach"]["last_over_first"]),
                _fmt(r["detach"]["all"]["median"]),
                _fmt(r.get("start_containers_s")),
                _fmt(r.get("networks")),
                _fmt(r.get("network_create", {}).get("all", {}).get("median")),
                _fmt(r.get("network_attach", {}).get("all", {}).get("median")),
                _fmt(r.get("store_kb")),
                ", ".join(f"{k} {v / 1024:.1f} MB" for k, v in rss.items()) or "-",
                _fmt(r.get("rss_kb_per_endpoint")),
                f"{rules['rules']} (+{rules['set_elements']} el.)" if rules else "-",
            ]
        )
    head = [
        "system",
        "attaches",
        "attach total s",
        "first 10% ms",
        "last 10% ms",
        "last/first",
        "detach ms",
        "container start s",
        "networks",
        "net create ms",
        "net attach ms",
        "store kB",
        "RSS with endpoints",
        "kB/endpoint",
        "nft rules after",
    ]
    png = _plot_growth(out / "scale.png", scale)
    return [*_table(head, rows), "", *_scale_notes(scale), "", f"![scale]({png})"]


def _scale_notes(scale: dict[str, Any]) -> list[str]:
    """Where growth comes from: the floor shows the kernel's own, the library adds berth's
    controller, the API adds berthd (with that many running containers)."""

    def last(name: str) -> float | None:
        value = (scale.get(name) or {}).get("attach", {}).get("last10_median_ms")
        return float(value) if value is not None else None

    def first(name: str) -> float | None:
        value = (scale.get(name) or {}).get("attach", {}).get("first10_median_ms")
        return float(value) if value is not None else None

    floor, lib, api = "floor (pyroute2)", "berth library", "berth API"
    notes = []
    if last(floor) and first(floor):
        notes.append(
            f"- The kernel's own growth (floor, raw pyroute2): last/first 10% = "
            f"{_fmt(last(floor) / first(floor))} ({_fmt(first(floor))} -> {_fmt(last(floor))} ms)."
        )
    if last(lib) and last(floor):
        notes.append(
            f"- berth library, last 10%: {_fmt(last(lib))} ms = {_fmt(last(lib) / last(floor))}x "
            "the floor's last 10% (below 1: berth does the same kernel work faster)."
        )
    if last(api) and last(lib) and first(api) and first(lib):
        notes.append(
            f"- berth API minus library (what berthd adds per attach, with "
            f"{_fmt(scale[api].get('containers'))} containers running): first 10% "
            f"{_fmt(first(api) - first(lib))} ms, last 10% {_fmt(last(api) - last(lib))} ms."
        )
    return notes


def _ports(results: dict[str, Any], out: Path) -> list[str]:
    ports = results["ports"]  # present, without an error: see _section
    rows = []
    for system, sizes in ports["publish"].items():
        for k, r in sizes.items():
            if r.get("skipped"):
                rows.append([system, k, "skipped (quick mode)", "", "", "", "", "", ""])
                continue
            rows.append(
                [
                    system,
                    k,
                    _mm(r["start_ms"], 1),
                    _mm(r["publish_ms"], 1),
                    _mm(r["unpublish_ms"], 1),
                    _fmt(r["procs_added"]),
                    _fmt(r["rss_kb_added"]),
                    _fmt(r.get("pss_kb_added")),
                    f"{r['rules']['rules']} (+{r['rules']['set_elements']} el.)",
                ]
            )
    head = [
        "system",
        "ports",
        "start with ports ms",
        "publish ms (minus 0 ports)",
        "unpublish ms",
        "processes added",
        "RSS added kB",
        "PSS added kB",
        "nft rules",
    ]
    rate_rows = []
    for label, conds in ports["conn_rate"].items():
        zero, many = conds["0 other ports"], conds["1000 other ports"]
        ratio = many["median"] / zero["median"] if zero["median"] and many["median"] else None
        rate_rows.append([label, _mm(zero, 0), _mm(many, 0), _fmt(ratio)])
    removal = ports.get("remove_after_traffic_ms", {})
    labels = list(ports["conn_rate"])
    title = "New connections/s to 127.0.0.1:8080 (wrk, Connection: close)"
    png = _plot_bars(
        out / "ports.png",
        title,
        labels,
        {
            c: [ports["conn_rate"][x][c] for x in labels]
            for c in ("0 other ports", "1000 other ports")
        },
        "connections/s",
    )
    return [
        *_table(head, rows),
        "",
        *_table(
            ["system", "conn/s, 0 other ports", "conn/s, 1000 other ports", "ratio"], rate_rows
        ),
        "",
        "Removing the 1,000-port container right after the wrk run: "
        + ", ".join(f"{k} {_mm(v, 0)} ms" for k, v in removal.items()),
        "",
        f"![ports]({png})",
    ]


def _datapath(results: dict[str, Any], out: Path) -> list[str]:
    dp = results["datapath"]  # present, without an error: see _section
    rows = [
        [
            name,
            _mm(r["gbit_per_s"]),
            _fmt(r.get("throughput_vs_direct")),
            _mm(r["conn_per_s"], 0),
            _fmt(r.get("conn_rate_vs_direct")),
            "; ".join(r["wrk_errors"]) or "-",
        ]
        for name, r in dp.items()
    ]
    names = list(dp)
    png1 = _plot_bars(
        out / "datapath-throughput.png",
        "iperf3 throughput (one stream)",
        names,
        {"Gbit/s": [dp[n]["gbit_per_s"] for n in names]},
        "Gbit/s",
    )
    png2 = _plot_bars(
        out / "datapath-connrate.png",
        "wrk new connections/s",
        names,
        {"conn/s": [dp[n]["conn_per_s"] for n in names]},
        "connections/s",
    )
    head = ["path", "Gbit/s", "vs direct", "conn/s", "vs direct", "wrk socket errors"]
    return [*_table(head, rows), "", f"![throughput]({png1})", f"![conn rate]({png2})"]


def _dns(results: dict[str, Any]) -> list[str]:
    dns = results["dns"]  # present, without an error: see _section
    lines = []
    rows = []
    for label, r in dns.items():
        if not r.get("available"):
            lines.append(f"- **{label}: not available** — {r.get('note', '')}")
            continue
        rows.append(
            [label, _mm(r["latency_ms"], 3), _mm(r["answers_per_s"], 0), _fmt(r["failures"])]
        )
    return [
        *lines,
        "",
        *_table(["system", "latency ms", "answers/s (32 outstanding)", "failures"], rows),
    ]


def _footprint(results: dict[str, Any]) -> list[str]:
    fp = results["footprint"]  # present, without an error: see _section
    idle = fp.get("idle_rss_kb", {})
    per = fp.get("rss_kb_per_endpoint", {})
    rows = [[k, f"{v / 1024:.1f} MB", _fmt(per.get(k))] for k, v in idle.items()]
    cli = [[k, _mm(v, 1)] for k, v in fp.get("cli_ms", {}).items()]
    return [
        *_table(["process", "idle RSS", "kB per additional endpoint"], rows),
        "",
        f"berthd / dockerd idle: {_fmt(fp.get('berthd_over_dockerd_idle'))}; "
        "berthd / (dockerd + containerd): "
        f"{_fmt(fp.get('berthd_over_dockerd_plus_containerd_idle'))}",
        "",
        *_table(["CLI", "ms"], cli),
        "",
        f"berth / docker: `--version` {_fmt(fp.get('cli_version_ratio'))}x, "
        f"`network ls` {_fmt(fp.get('cli_network_ls_ratio'))}x",
    ]


def _profiles(results: dict[str, Any]) -> list[str]:
    profiles = results.get("profiles") or {}
    if not profiles:
        return ["No profile taken: no target that a Python profile can explain was missed."]
    lines = []
    for kind, p in profiles.items():
        lines += [f"### {kind}: {p.get('what', '')}", ""]
        if "error" in p:
            lines += [f"profile failed: {p['error']}", ""]
        if "top_self" in p:
            lines += ["Busiest frames (own time, % of samples):", "```"]
            lines += [f"{pct:5.1f}%  {frame}" for frame, pct in p["top_self"]]
            lines += ["```", "berth's frames, inclusive (anywhere on the stack):", "```"]
            lines += [f"{pct:5.1f}%  {frame}" for frame, pct in p["top_inclusive"]]
            lines += ["```", f"(raw stacks: {p.get('file')})", ""]
        for key in ("tottime", "cumulative"):
            if key in p:
                lines += [f"Sorted by {key}:", "```", p[key], "```", ""]
    return lines


CAVEATS = """- One 2-core VM; other jobs may share it (load average at start and end is above).
  Every comparison interleaves its systems (A B A B) so that noise hits all alike; read the ratios
  rather than absolute numbers, and the min-max to see the noise.
- Docker is Debian 12's docker.io (20.10) with its containerd 1.6 and runc, overlay2, iptables-nft;
  the Docker CLI is that package's 20.10 client. berth's CLI and daemon are Python.
- berth's detach takes the veth out of service and lets a background thread delete it (~16-20 ms of
  kernel time for unregistration); Docker, CNI and the floor wait for the deletion.
- The floor opens its sandbox-side netlink socket per attach with pyroute2; berth's own netlink
  code can be faster than pyroute2, so "attach / floor" below 1 is possible.
- Scale: the per-attach numbers of both daemons are `network connect` of running containers
  (networking only); container start times include containerd/runc (Docker) or the shim (berth).
  Docker runs fewer containers than berth in full mode (see the table): 500 take it ~10 minutes
  to start, connect and remove here.
- Docker with 1,000 published ports starts 2,000 docker-proxy processes (minutes to start and
  remove; RSS counts their shared binary 2,000 times, PSS once): measured in the first round
  only (full mode), skipped in quick mode; its "1000 other ports" rate is measured while that
  container is up.
- The connection-rate server is a small Python server in 2 processes, the same for every path;
  it bounds the rates (see the loopback ceiling). Conntrack's TIME_WAIT timeout is 1 s in the lab
  namespaces and containers so rounds do not fill the table; client ports spread over 30000-65000.
- DNS: Docker's embedded resolver is a goroutine in dockerd behind an iptables DNAT in the
  container; berth's side runs only once berthd answers on 127.0.0.11 (issue 4)."""


def _section(results: dict[str, Any], key: str, fn: Any, *args: Any) -> list[str]:
    """One comparison's lines; a suite that did not run or failed says so instead."""
    data = results.get(key)
    if not data:
        return ["Not run in this invocation."]
    if "error" in data:
        return ["The suite failed:", "```", data["error"].rstrip(), "```"]
    try:
        lines: list[str] = fn(results, *args)
        return lines
    except Exception as err:  # a report with one broken section beats no report
        return [f"(could not render this section: {type(err).__name__}: {err})"]


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    targets = evaluate(results)
    env = results.get("env", {})
    lines = [
        "# berth benchmarks: side by side with Docker, the CNI reference plugins and the "
        "kernel floor",
        "",
        f"Mode **{results.get('mode')}**, {env.get('when')}, {results.get('seconds')} s; kernel "
        f"{env.get('kernel')}, {env.get('cpus')} CPUs, load average at start "
        f"{_fmt(list(env.get('loadavg_start', [])))} and end "
        f"{_fmt(list(env.get('loadavg_end', [])))}; "
        f"berth tree {env.get('berth_tree')}; {env.get('dockerd')}; {env.get('containerd')}; CNI "
        f"plugins {env.get('cni_plugins')}; wrk {env.get('wrk')}; {env.get('iperf3')}.",
        "",
        "Every number is a median with [min-max] over all samples of interleaved rounds; raw data "
        "in results.json. Reproduce: `sudo bash bench/run.sh` (add `--quick` for ~3 minutes).",
        "",
        *(
            ["**The run failed:**", "```", results["error"], "```", ""]
            if results.get("error")
            else []
        ),
        "## Targets (issue 5)",
        "",
        *_table(
            ["target", "measured", "ratio", "verdict"],
            [[t.text, t.measured, _fmt(t.ratio), _verdict(t)] for t in targets],
        ),
        "",
        "## 1. Attach and detach latency",
        "",
        *_section(results, "attach", _attach, out),
        "",
        "## 2. Scale",
        "",
        *_section(results, "scale", _scale, out),
        "",
        "## 3. Published ports",
        "",
        *_section(results, "ports", _ports, out),
        "",
        "## 4. Data path",
        "",
        *_section(results, "datapath", _datapath, out),
        "",
        "## 5. Embedded DNS",
        "",
        *_section(results, "dns", _dns),
        "",
        "## 6. Daemon footprint and CLI start-up",
        "",
        *_section(results, "footprint", _footprint),
        "",
        "## Profiles of the misses",
        "",
        *_profiles(results),
        "",
        "## Caveats",
        "",
        CAVEATS,
        "",
    ]
    (out / "report.md").write_text("\n".join(lines) + "\n")
