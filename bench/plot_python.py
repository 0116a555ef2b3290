"""Draws bench/python_results.png from bench/python_results.json (written by
`make bench-python`): every region against (b), the design note's setup.
Left, costs (client CPU, server CPU, memory): below 1 costs less than (b).
Right, throughput: above 1 serves more than (b)."""

import json
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: E402

here = pathlib.Path(__file__).resolve().parent
results = json.loads((here / "python_results.json").read_text())
ops = results["operations"]
memory = results["memory"]
REGIONS = [("a", "#1f77b4"), ("c", "#ff7f0e"), ("d", "#7f7f7f")]
OPS = ["get hit", "get_multi", "get_or_create miss", "logout purge", "stash write"]
# Group labels on two lines where they are long.
LABEL = {"get_or_create miss": "get_or_create\nmiss"}

fig, (costs, gains) = plt.subplots(1, 2, figsize=(16, 6.5), gridspec_kw={"width_ratios": [1.8, 1]})


def bar(ax, x, y, color, hatch=None):
    """A bar from 1 (where (b) is) to the ratio, labelled at its end."""
    if y is None:
        return
    ax.bar(x, y - 1, 0.12, bottom=1, color=color, hatch=hatch, edgecolor="white" if hatch else color, linewidth=0)
    ax.annotate("%.2fx" % y, (x, y), ha="center", va="bottom" if y >= 1 else "top", fontsize=7, rotation=90,
                xytext=(0, 2 if y >= 1 else -2), textcoords="offset points")


# Costs: client and server CPU per operation, memory per entry and per stashed pair.
MEMORY = ["memory\nper entry", "memory per\nstashed pair", "memory per entry,\nvs (b) written with\ndogpile's header"]
groups = OPS + MEMORY
for g, group in enumerate(groups):
    if group in OPS:
        slots = [(tag, color, metric, hatch) for tag, color in REGIONS
                 for metric, hatch in (("client_vs_b", None), ("server_vs_b", "///"))]
    elif group == MEMORY[2]:
        slots = [("a", REGIONS[0][1], "header", "...")]
    else:
        key = "entry_vs_b" if group == MEMORY[0] else "stash_pair_vs_b"
        slots = [(tag, color, key, "...") for tag, color in REGIONS]
    for s, (tag, color, metric, hatch) in enumerate(slots):
        x = g + (s - (len(slots) - 1) / 2) * 0.13
        if metric == "header":
            value = memory["b with dogpile's header"]["a_vs_this"]
        else:
            value = (ops[group].get(tag, {}) if group in OPS else memory[tag]).get(metric)
        bar(costs, x, value, color, hatch)
costs.axhline(1.0, color="black", linewidth=1)
costs.set_yscale("log")
costs.yaxis.set_major_locator(FixedLocator([0.25, 0.5, 1, 2, 4, 8, 16]))
costs.yaxis.set_minor_locator(NullLocator())
costs.yaxis.set_major_formatter(FuncFormatter(lambda y, _: "%gx" % y))
costs.set_ylim(0.25, 24)
costs.set_xticks(range(len(groups)))
costs.set_xticklabels([LABEL.get(g, g) for g in groups], fontsize=7)
costs.set_ylabel("cost relative to (b) (1x = (b)), log scale")
costs.set_title("Costs relative to (b), the design note's setup: LOWER is better (below the line: cheaper)", fontsize=10)
costs.legend(
    handles=[Patch(color=c, label=results["regions"][t]) for t, c in REGIONS]
    + [Patch(facecolor="#cccccc", label="client CPU"),
       Patch(facecolor="#cccccc", hatch="///", edgecolor="white", label="server CPU"),
       Patch(facecolor="#cccccc", hatch="...", edgecolor="white", label="memory")],
    fontsize=7, loc="upper left",
)

# Throughput: operations per second relative to (b).
for g, op in enumerate(OPS):
    for s, (tag, color) in enumerate(REGIONS):
        x = g + (s - 1) * 0.13
        bar(gains, x, ops[op].get(tag, {}).get("throughput_vs_b"), color)
gains.axhline(1.0, color="black", linewidth=1)
gains.set_ylim(0.3, 2.0)
gains.set_xticks(range(len(OPS)))
gains.set_xticklabels([LABEL.get(g, g) for g in OPS], fontsize=7)
gains.set_ylabel("operations per second relative to (b) (1x = (b))")
gains.yaxis.set_major_formatter(FuncFormatter(lambda y, _: "%gx" % y))
gains.set_title("Throughput relative to (b): HIGHER is better (above the line: faster)", fontsize=10)
gains.legend(handles=[Patch(color=c, label="(%s)" % t) for t, c in REGIONS], fontsize=7, loc="upper left")

w, env = results["workload"], results["environment"]
fig.suptitle(
    "The design note's pattern from Python: %d a x %d b, 25 flags, medians of %d interleaved rounds "
    "(Redis %s, redis-py %s%s)"
    % (w["a"], w["b"], w["rounds"], env["redis_server"], env["redis_py"],
       " + hiredis" if env["hiredis"] else ""),
    fontsize=11,
)
fig.tight_layout()
fig.savefig(here / "python_results.png", dpi=110)
print("wrote", here / "python_results.png")
