"""Draws bench/results.png from bench/results.json (written by `make bench`):
the README's Performance ratios, one panel per direction. Left, costs: the
server's instructions per operation, the module's against the Lua script and
the native command (below 1: the module costs less). Right, gains: pipelined
throughput, the module's against the same two (above 1: the module serves
more). Each bar starts at 1, so its direction says which way it went."""

import json
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: E402

here = pathlib.Path(__file__).resolve().parent
results = json.loads((here / "results.json").read_text())
rows = results["ratios"]

# One row per operation (top to bottom as in the README), bars left or right of 1.
fig, (costs, gains) = plt.subplots(1, 2, figsize=(14, 1.8 + 0.55 * len(rows)), sharey=True)


def ratio_axis(ax, ticks):
    """A log axis labelled in plain ratios (0.25x, 1x, 4x)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: "%gx" % x))
    ax.set_xlim(ticks[0], ticks[-1])


def panel(ax, series, title, xlabel):
    height = 0.8 / len(series)
    for i, (label, key, color) in enumerate(series):
        for j, row in enumerate(rows):
            x = row[key]
            if x is None:
                continue
            y = j + (i - (len(series) - 1) / 2) * height
            ax.barh(y, x - 1, height, left=1, color=color, label=label if j == 0 else None)
            ax.annotate("%.2fx" % x, (x, y), va="center", ha="left" if x >= 1 else "right", fontsize=7,
                        xytext=(2 if x >= 1 else -2, 0), textcoords="offset points")
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r["operation"] for r in rows], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)


panel(
    costs,
    [("vs the Lua script", "instructions_vs_lua", "#2ca02c"),
     ("vs the native command (HSET, HGET)", "instructions_vs_native", "#98df8a")],
    "Cost: server instructions per operation, module / baseline: LOWER is better",
    "ratio (1 = the baseline), log scale",
)
ratio_axis(costs, [0.0625, 0.125, 0.25, 0.5, 1, 2, 4, 8, 16])
panel(
    gains,
    [("vs the Lua script", "throughput_vs_lua", "#ff7f0e"),
     ("vs the native command (HSET, HGET)", "throughput_vs_native", "#ffbb78")],
    "Gain: pipelined throughput, module / baseline: HIGHER is better",
    "ratio (1 = the baseline), log scale",
)
ratio_axis(gains, [0.25, 0.5, 1, 2, 4, 8])
costs.invert_yaxis()  # the axes share it: the README's order, top to bottom
fig.suptitle("redis-calc against the design note's Lua scripts and native commands (Redis %s, one run)"
             % results["redis"], fontsize=11)
fig.tight_layout()
fig.savefig(here / "results.png", dpi=120)
print("wrote", here / "results.png")
