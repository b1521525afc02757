"""bench/load.py's plot: checkout latency over the run, the side-effect lag's CDF, and the
bursts' lag and checkout over time."""

from pathlib import Path

import bursts

COLORS = {
    "async": "tab:blue",
    "plain": "tab:red",
    "sync": "tab:orange",
    "async-noevents": "tab:green",
}
LABELS = {
    "async": "Shopflow (async)",
    "plain": "plain design, the baseline",
    "sync": "Shopflow, eager (sync)",
    "async-noevents": "Shopflow, task events off",
}


def plot(raw: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom, bursting) = plt.subplots(3, 1, figsize=(12, 13))
    plot_checkouts(top, raw)
    plot_lag_cdf(bottom, raw)
    plot_bursts(bursting, raw)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_checkouts(axes, raw: dict) -> None:
    """Every checkout's latency over the run, a colour per variant; grey lines where the
    first variant's phases start."""
    # One clock for both variants: their phases, and a closed loop's rounds, take turns.
    flows_of = {
        (variant, name): [f for f in phase["flows"] if f["order_id"]]
        for variant, phases in raw.items()
        for name, phase in phases.items()
    }
    starts = [f["started"] for flows in flows_of.values() for f in flows]
    t0 = min(starts, default=0.0)
    labelled = set()
    for (variant, name), flows in flows_of.items():
        if not flows:
            continue
        xs = [(f["created_at"] - t0) / 60 for f in flows]
        axes.scatter(
            xs,
            [f["checkout_ms"] for f in flows],
            s=2,
            color=COLORS.get(variant),
            alpha=0.5,
            label=None if variant in labelled else LABELS.get(variant, variant),
        )
        labelled.add(variant)
        if variant == next(iter(raw)):
            axes.axvline(min(xs), color="grey", lw=0.5)
            axes.text(min(xs), 1.02, name, transform=axes.get_xaxis_transform(), fontsize=8)
    axes.set_yscale("log")
    axes.set_ylabel("checkout latency (ms)")
    axes.set_xlabel("minutes into the run")
    axes.set_title("Checkout latency over the run", pad=16)
    axes.legend()


def plot_lag_cdf(axes, raw: dict) -> None:
    """The side-effect lag's CDF, a line per phase, Shopflow's (else the first variant's):
    the plain design keeps none (its side effects are done when the checkout answers)."""
    shown = "async" if "async" in raw else next(iter(raw), "")
    for name, values in raw.get(shown, {}).items():
        cdf = values["lag_cdf"]
        if not cdf or name == "rest":
            continue
        axes.plot([ms for ms, _ in cdf], [fraction for _, fraction in cdf], label=name)
    axes.set_xscale("log")
    axes.set_xlabel("checkout to side effect done (ms), every kind (/metrics)")
    axes.set_ylabel("fraction of side effects")
    axes.set_title(f"Side-effect lag, CDF ({LABELS.get(shown, shown)}; the plain design: 0)")
    axes.grid(True, which="both", alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend()


def plot_bursts(axes, raw: dict) -> None:
    """p99 per 2 s over the burst phases (a colour each): Shopflow's side-effect lag, of
    the side effects done in those 2 s (solid), its checkout by the time of the 201
    (dashed), the plain design's checkout (dotted; sync's dash-dotted when run), which
    holds its side effects."""
    colors = {"burst30": "tab:blue", "burst200": "tab:purple"}
    for variant, phases in raw.items():
        if variant not in ("async", "plain", "sync"):
            continue
        for name, values in phases.items():
            if not name.startswith("burst") or not values.get("lag_series"):
                continue
            started = values["started"]
            points = [
                (f["created_at"] - started, f["checkout_ms"])
                for f in values["flows"]
                if f["order_id"]
            ]
            checkouts = bursts.checkout_series(points)
            lines = [(checkouts, ":" if variant == "plain" else "-.", "checkout")]
            if variant == "async":
                lines = [(values["lag_series"], "-", "side effects"), (checkouts, "--", "checkout")]
            for points, style, what in lines:
                points = [p for p in points if p[1] is not None]
                xs, ys = [t for t, _, _ in points], [max(p99, 1) for _, p99, _ in points]
                label = f"{LABELS.get(variant, variant)}, {name}: {what}"
                axes.plot(xs, ys, style, color=colors.get(name), label=label)
            axes.axvline(values["burst_end"], color="grey", lw=0.5)
    axes.axhline(bursts.RECOVERED_P99_MS, color="red", lw=0.5)
    axes.set_yscale("log")
    axes.set_xlabel("seconds into the phase (grey line: the burst ends, the steady rate goes on)")
    axes.set_ylabel("p99 per 2 s (ms)")
    axes.set_title("Burst and recovery: the side-effect lag, and the checkout itself")
    axes.grid(True, which="both", alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8)
