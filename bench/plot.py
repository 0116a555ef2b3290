"""Draws bench/results.png from bench/results.json (written by `make bench`):
for each operation family, the module's ratios to the Lua script and to the
native floor. Below 1 means the module costs less; throughput above 1 means it
serves more."""

import json
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

here = pathlib.Path(__file__).resolve().parent
results = json.loads((here / "results.json").read_text())
rows = [r for r in results["rows"] if r["role"] == "module"]
# Callgrind's repeatable counts, joined to the timed rows by variant.
counted = {r["variant"]: r for r in results["instructions"]}
for r in rows:
    r["instructions_vs_lua"] = counted[r["variant"]]["vs_lua"]
    r["instructions_vs_native"] = counted[r["variant"]]["vs_native"]

series = [
    ("server cost vs Lua", "cost_vs_lua", "#1f77b4"),
    ("server cost vs native", "cost_vs_native", "#aec7e8"),
    ("server instructions vs Lua", "instructions_vs_lua", "#2ca02c"),
    ("server instructions vs native", "instructions_vs_native", "#98df8a"),
    ("throughput vs Lua, unpipelined", "throughput_vs_lua_unpipelined", "#ff7f0e"),
    ("throughput vs Lua, pipelined", "throughput_vs_lua_pipelined", "#ffbb78"),
]
fig, ax = plt.subplots(figsize=(13, 5.5))
width = 0.8 / len(series)
for i, (label, key, color) in enumerate(series):
    xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(rows))]
    ys = [r[key] if r[key] is not None else 0 for r in rows]
    bars = ax.bar(xs, ys, width, label=label, color=color)
    for bar, y in zip(bars, ys):
        if y:
            ax.annotate("%.2fx" % y, (bar.get_x() + bar.get_width() / 2, y), ha="center", va="bottom", fontsize=6)
ax.axhline(1.0, color="black", linewidth=0.8)
ax.set_xticks(range(len(rows)))
ax.set_xticklabels(["%s\n%s" % (r["variant"], r["family"]) for r in rows], fontsize=8)
ax.set_ylabel("ratio (module / baseline)")
ax.set_title("redis-calc vs the design note's Lua scripts and native commands (Redis %s, one run)"
             % results["redis"], fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(here / "results.png", dpi=120)
print("wrote", here / "results.png")
