#!/usr/bin/env python3
"""Train the authors' BSA-TNP on the 2-D GP task for a fixed number of steps, across device calls.

The GPU issue asks for the reference trained for the spec's 100,000 steps (batch 8, lr 1e-4 cosine
over all steps, alpha 2e-5, clip 0.5, AdamW wd 1e-4) next to our own 100K-step model. One device
call is limited to 600 s, so this driver saves the whole training state (parameters, Adam moments,
schedule count) at the end of a call and resumes from it in the next.

It reuses the pieces of ../shared/gpu/reference/gp2d_accuracy.py (imported, not copied): the model
builder, the optimiser, the jitted GP task sampler, the oracle and the evaluation. Batch k of the
run is sampler(key(seed), k) as in that script, so a resumed run sees the same data stream as one
long run. What differs from that script is only how batches reach the step: `--block` batches are
sampled in one vmapped call (under float64, as there) and the reference's own `model.train_step`
runs over them inside one `lax.scan`, which removes the per-step Python and x64-context overhead.
If the scan fails to compile, the driver falls back to one call per step.

Usage (repo root on the GPU machine, .gpu carried, with .gpu/ref-bench holding gp2d_accuracy.py):
  python3 scripts/ref-gp2d-resume.py --total 100000 --stop-at-s 560            # first call
  python3 scripts/ref-gp2d-resume.py --total 100000 --resume .gpu/ref-state/state --stop-at-s 560
Writes $OUT/state.msgpack + $OUT/state.json (atomically, every --save-every-s and at the end) and
RESULT lines (also appended to $OUT/accuracy.jsonl); evaluates 200 batches per domain once the
last step is done.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.getcwd(), ".gpu", "ref-bench"))
import gp2d_accuracy as ga  # noqa: E402  (installs the dl4bi shim and imports jax)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import random  # noqa: E402

OUT = os.environ.get("OUT", ".")


def save(state, meta, tag="state"):
    from flax import serialization

    blob = serialization.to_bytes(jax.device_get(state))
    for name, data, mode in ((f"{tag}.msgpack", blob, "wb"), (f"{tag}.json", json.dumps(meta), "w")):
        tmp = os.path.join(OUT, name + ".tmp")
        with open(tmp, mode) as f:
            f.write(data)
        os.replace(tmp, os.path.join(OUT, name))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--total", type=int, default=100_000, help="steps of the whole run (cosine decay length)")
    ap.add_argument("--resume", default=None, help="path prefix of a saved state (PREFIX.msgpack, PREFIX.json)")
    ap.add_argument("--stop-at-s", type=float, default=560.0, help="stop training at this script time (s)")
    ap.add_argument("--deadline-s", type=float, default=590.0, help="whole-script deadline (s), for the eval")
    ap.add_argument("--eval-batches", type=int, default=200)
    ap.add_argument("--block", type=int, default=100, help="batches sampled at once and steps per scan")
    ap.add_argument("--save-every-s", type=float, default=150.0)
    ap.add_argument("--seed-train", type=int, default=0)
    ap.add_argument("--seed-eval", type=int, default=20261129)
    args = ap.parse_args()
    ga.DEADLINE = args.deadline_s

    from flax import serialization

    from dl4bi.core.train import TrainState

    dev = jax.devices()[0]
    ga.emit(dict(mode="env", driver="ref-gp2d-resume", jax=jax.__version__, device=str(dev),
                 device_kind=dev.device_kind, argv=sys.argv[1:]))
    base = ga.DOMAINS["base"]
    key_train = random.key(args.seed_train)
    key_eval = random.key(args.seed_eval)
    k_p, k_e = random.split(random.key(args.seed_train + 1000))
    sample_one = ga.make_sampler(base["ctx_min"], base["ctx_max"], base["n_test"])
    with ga.x64():
        batch0, _, _, _ = sample_one(key_train, 0, base["lo"], base["hi"])

    model = ga.build("bsa_tnp")
    variables = model.init({"params": k_p, "extra": k_e}, **batch0)
    params = variables.pop("params")
    kwargs = variables
    state = TrainState.create(apply_fn=model.apply, params=params, kwargs=kwargs, tx=ga.optimizer(args.total))
    meta = dict(total=args.total, seed_train=args.seed_train, steps=0, calls=[], curve=[])
    if args.resume:
        with open(args.resume + ".msgpack", "rb") as f:
            state = serialization.from_bytes(state, f.read())
        with open(args.resume + ".json") as f:
            meta = json.load(f)
        if meta["total"] != args.total or int(state.step) != meta["steps"]:
            raise SystemExit(f"resume: expected total {args.total} and step {meta['steps']}, "
                             f"got total {meta['total']} and step {int(state.step)}")
    i = int(state.step)  # steps done; the next step trains on batch i
    ga.emit(dict(mode="init", n_params=ga.n_params(state.params), steps_done=i, total=args.total))

    step_fn = model.train_step  # the reference's likelihood_train_step (jit)

    def sample_block(start, n):
        idx = start + jnp.arange(n, dtype=jnp.int32)
        with ga.x64():
            batch, _, _, kst = jax.vmap(sample_one, in_axes=(None, 0, None, None))(key_train, idx, base["lo"], base["hi"])
        return batch, kst

    @jax.jit
    def scan_steps(st, batches, keys):
        def body(s, xs):
            b, k = xs
            s, loss = step_fn(k, s, b)
            return s, loss

        return jax.lax.scan(body, st, (batches, keys))

    mode = "scan"
    t_call = time.perf_counter()
    steps_at_call = i
    last_save = time.perf_counter()
    pending = None  # (first step, losses) of the block in flight: lagged sync keeps the queue full

    def flush():
        nonlocal pending
        if pending is not None:
            s0, losses = pending
            v = jax.device_get(losses)
            meta["curve"].append([int(s0 + len(v)), float(v.mean())])
            pending = None

    while i < args.total and ga.elapsed() < args.stop_at_s:
        n = min(args.block, args.total - i)
        if mode == "scan":
            try:
                batches, keys = sample_block(i, n)
                t0 = time.perf_counter()
                state, losses = scan_steps(state, batches, keys)
                if i == steps_at_call:
                    jax.block_until_ready(losses)
                    ga.emit(dict(mode="compile", how="scan", block=n, first_block_s=round(time.perf_counter() - t0, 1)))
            except Exception as e:  # fall back to the per-step loop of gp2d_accuracy.py
                ga.emit(dict(mode="scan_failed", error=repr(e)[:800]))
                mode = "steps"
                continue
        else:
            out = []
            for k in range(n):
                with ga.x64():
                    b, _, _, kst = sample_one(key_train, i + k, base["lo"], base["hi"])
                state, loss = step_fn(kst, state, b)
                out.append(loss)
            losses = jnp.stack(out)
        flush()
        pending = (i, losses)
        i += n
        if time.perf_counter() - last_save > args.save_every_s:
            flush()
            meta["steps"] = i
            save(state, meta)
            last_save = time.perf_counter()
    flush()
    jax.block_until_ready(state.params)
    wall = time.perf_counter() - t_call
    done = i - steps_at_call
    meta["steps"] = i
    meta["calls"].append(dict(steps=done, wall_s=round(wall, 1), ms_per_step=round(1e3 * wall / max(1, done), 3),
                              mode=mode, date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
    save(state, meta)
    ga.emit(dict(mode="train", steps_done=i, total=args.total, this_call=meta["calls"][-1],
                 lr=ga.lr_at(i, args.total), curve_every_5000=[c for c in meta["curve"] if c[0] % 5000 < args.block]
                 + meta["curve"][-1:]))
    if i < args.total:
        return

    ev = ga.make_model_eval(model)
    sc = ga.DOMAINS["scaled"]
    fns = {
        "small": (sample_one, ga.make_oracle(base["ctx_max"], base["n_test"]), ev),
        "scaled": (ga.make_sampler(sc["ctx_min"], sc["ctx_max"], sc["n_test"]), ga.make_oracle(sc["ctx_max"], sc["n_test"]), ev),
    }
    per_batch = {}
    ga.evaluate("bsa_tnp", model, state.params, state.kwargs, fns, key_eval, args.eval_batches, per_batch)
    with open(os.path.join(OUT, "per_batch_bsa_tnp_100k.json"), "w") as f:
        json.dump(per_batch, f)
    with open(os.path.join(OUT, "params_bsa_tnp_100k.msgpack"), "wb") as f:
        f.write(serialization.to_bytes(jax.device_get(state.params)))
    ga.emit(dict(mode="done", elapsed_s=round(ga.elapsed(), 1)))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        ga.emit(dict(mode="fatal", error=repr(e)[:1500]))
        raise
