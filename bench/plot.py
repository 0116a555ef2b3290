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

fig, (costs, gains) = plt.subplots(1, 2, figsize=(14, 5.5))


def ratio_axis(ax, ticks):
    """A log axis labelled in plain ratios (0.25x, 1x, 4x)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: "%gx" % y))
    ax.set_ylim(ticks[0], ticks[-1])


def panel(ax, series, title, ylabel):
    width = 0.8 / len(series)
    for i, (label, key, color) in enumerate(series):
        for j, row in enumerate(rows):
            y = row[key]
            if y is None:
                continue
            x = j + (i - (len(series) - 1) / 2) * width
            ax.bar(x, y - 1, width, bottom=1, color=color, label=label if j == 0 else None)
            ax.annotate("%.2fx" % y, (x, y), ha="center", va="bottom" if y >= 1 else "top", fontsize=7,
                        xytext=(0, 2 if y >= 1 else -2), textcoords="offset points")
    ax.axhline(1.0, color="black", linewidth=1)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["operation"].replace(", ", ",\n") for r in rows], fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")


panel(
    costs,
    [("vs the Lua script", "instructions_vs_lua", "#2ca02c"),
     ("vs the native command (HSET, HGET)", "instructions_vs_native", "#98df8a")],
    "Cost: server instructions per operation, module / baseline: LOWER is better",
    "ratio (1 = the baseline), log scale",
)
ratio_axis(costs, [0.125, 0.25, 0.5, 1, 2, 4, 8, 16])
panel(
    gains,
    [("vs the Lua script", "throughput_vs_lua", "#ff7f0e"),
     ("vs the native command (HSET, HGET)", "throughput_vs_native", "#ffbb78")],
    "Gain: pipelined throughput, module / baseline: HIGHER is better",
    "ratio (1 = the baseline), log scale",
)
ratio_axis(gains, [0.25, 0.5, 1, 2, 4, 8])
fig.suptitle("redis-calc against the design note's Lua scripts and native commands (Redis %s, one run)"
             % results["redis"], fontsize=11)
fig.tight_layout()
fig.savefig(here / "results.png", dpi=120)
print("wrote", here / "results.png")
