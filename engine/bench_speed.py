"""The speed labs' headline figures for `pttui bench`: one function per lab.

Each runs its lab through the runner, exactly as `pttui run` would, and returns a few rounded
figures: the AMP speed-up, the int8 speed-ups and size ratio, the best num_workers. The labs
measure alike (warm-up, then medians with their spread: see `pttui.engine.timing`), so these are the
labs' own numbers; `noisy` is true when a lab said its rounds disagreed.
`quick` makes each run shorter for a smoke test. Torch loads only when a function runs.
"""

from __future__ import annotations

from typing import Any


def _run(topic: str, **params: Any) -> dict[str, Any]:
    from pttui.engine.labs import get_lab
    from pttui.engine.runner import Runner
    from pttui.engine.sinks import CollectSink

    final = Runner(get_lab(topic), params, [CollectSink()]).run()
    if final.kind != "done":
        raise RuntimeError(f"the {topic} lab failed: {getattr(final, 'message', final)}")
    return final.result


def amp(quick: bool = False) -> dict[str, Any]:
    """fp32 against autocast (bf16 on the CPU) at the amp lab's defaults."""
    r = _run("amp", epochs=4 if quick else 12)
    return {
        "dtype": r["dtype"],
        "device": r["device"],
        "speedup": round(r["speedup"], 3),
        "fp32_samples_per_s": round(r["fp32_samples_per_s"]),
        "amp_samples_per_s": round(r["amp_samples_per_s"]),
        "speedup_spread": r["speedup_spread"],
        "samples_per_s_spread": r["samples_per_s_spread"],  # per variant, as the lab gives it
        "noisy": r["noisy"],
        "threads": r["threads"],
    }


def quantization(quick: bool = False) -> dict[str, Any]:
    """Dynamic int8 against fp32 on the MLP 784-1024-1024-10 (the lab's default)."""
    r = _run("quantization", torchao=False, epochs=1 if quick else 3, rounds=3 if quick else 7)
    fp32, dyn = r["variants"]["fp32"], r["variants"]["dynamic int8"]
    return {
        "engine": r["engine"],
        "int8_speedup_b1": round(dyn["speedup_b1"], 3),
        "int8_speedup_b64": round(dyn["speedup_b64"], 3),
        "size_ratio": round(r["size_ratio"], 3),
        "fp32_mb": fp32["size_mb"],  # exact: the printer scales it (a tiny model's 0.004 is not 0)
        "int8_mb": dyn["size_mb"],
        "int8_speedup_b1_spread": dyn["speedup_b1_spread"],
        "int8_speedup_b64_spread": dyn["speedup_b64_spread"],
        "noisy": r["noisy"],
        "threads": r["threads"],
    }


def data(quick: bool = False) -> dict[str, Any]:
    """The fastest num_workers for plain tensors and for samples that cost 200 us each."""
    plain = _run("data", epochs=2 if quick else 5)
    fastest = max(plain["sweep"], key=lambda r: r["samples_per_s"])
    figures = {
        "best_num_workers": plain["best"]["num_workers"],
        "best_batch_size": plain["best"]["batch_size"],
        "best_samples_per_s": round(fastest["samples_per_s"]),
        "best_samples_per_s_spread": fastest["samples_per_s_spread"],
        "noisy": bool(plain.get("noisy_sweep")),
    }
    if not quick:
        costly = _run("data", sample_cost_us=200, epochs=2, sweep_batch="64")
        figures["best_num_workers_200us"] = costly["best"]["num_workers"]
        figures["noisy"] = figures["noisy"] or bool(costly.get("noisy_sweep"))
        rates = {r["num_workers"]: r["samples_per_s"] for r in costly["sweep"]}
        figures["workers_speedup_200us"] = round(max(rates.values()) / rates[0], 3) if 0 in rates else None
        figures["samples_per_s_200us_spread"] = {  # the rows that ratio compares, with their spread
            f"num_workers {r['num_workers']}": r["samples_per_s_spread"] for r in costly["sweep"]
        }
    return figures


SECTIONS = [("data", data), ("amp", amp), ("quantization", quantization)]
