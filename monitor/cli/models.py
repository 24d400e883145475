"""`monitor train ...` and `monitor eval ...` commands (imported lazily by cli.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from monitor import LABELS


def add_parsers(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("train", help="train a model from ../shared/data")
    trs = tr.add_subparsers(dest="what", required=True)
    tt = trs.add_parser("text", help="fine-tune MiniLM (every weight) for 3-class sentiment; the defaults are the shipped recipe")
    tt.add_argument("--out", type=Path, default=None, help="artefact dir (default: the packaged model dir)")
    tt.add_argument("--data-dir", type=Path, default=None, help="folder holding text/*.tsv (default ../shared/data)")
    tt.add_argument("--device", default=None, help="cpu | cuda (default: cuda if present)")
    tt.add_argument("--base-dir", type=Path, default=None, help="base MiniLM dir (default: the PyPI wheel's)")
    from monitor.training.text_train import TRAIN_HELP, TrainConfig

    for name, default in TrainConfig().__dict__.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            tt.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=default,
                            help=TRAIN_HELP.get(name, "") + " (true/false)")
        else:
            tt.add_argument(flag, type=type(default), default=default, help=TRAIN_HELP.get(name))
    tt.set_defaults(func=cmd_train_text)
    td = trs.add_parser("text-dapt", help="domain-adaptive pre-training: masked-LM training of the MiniLM encoder on "
                                          "unlabelled posts (input of `train text --init-encoder`)")
    td.add_argument("--out", type=Path, required=True, help="folder for encoder.safetensors and dapt_summary.json")
    td.add_argument("--data-dir", type=Path, default=None, help="folder holding text/ and streams/ (default "
                                                                 "../shared/data)")
    from monitor.training.dapt import DAPT_HELP, DaptConfig

    for name, default in DaptConfig().__dict__.items():
        td.add_argument("--" + name.replace("_", "-"), type=type(default), default=default, help=DAPT_HELP[name])
    td.set_defaults(func=cmd_train_text_dapt)
    tp = trs.add_parser("text-pseudo", help="self-training: confident, class-balanced pseudo-labels from the shipped "
                                            "model on unlabelled posts (input of `train text --pseudo-labels`)")
    tp.add_argument("--out", type=Path, required=True, help="TSV to write (label, text, confidence)")
    tp.add_argument("--min-confidence", type=float, default=0.9, help="keep posts whose top probability reaches "
                                                                        "this (default: 0.9)")
    tp.add_argument("--cap", type=int, default=0, help="at most this many per class (default: 0 = no cap)")
    tp.add_argument("--model", type=Path, default=None, help="teacher artefact dir (default: the packaged model)")
    tp.add_argument("--data-dir", type=Path, default=None, help="folder holding text/ and streams/ (default "
                                                                 "../shared/data)")
    tp.set_defaults(func=cmd_train_text_pseudo)
    ts = trs.add_parser("text-soup", help="average the weights of full fine-tunes that differ in their seed "
                                          "(written only if it beats every member on dev)")
    ts.add_argument("--member", type=Path, action="append", required=True, help="artefact dir; give two or more")
    ts.add_argument("--out", type=Path, required=True)
    ts.add_argument("--device", default=None)
    ts.add_argument("--force", action="store_true", help="write the soup even if a member scores higher on dev")
    ts.add_argument("--limit", type=int, default=0, help="cap each dev set (smoke tests only)")
    ts.set_defaults(func=cmd_train_text_soup)
    from monitor.cli import media as cli_media

    cli_media.add_train(trs)
    _add_eval(sub)


def _add_eval(sub: argparse._SubParsersAction) -> None:
    """`monitor eval ...`, `monitor bench-media`, `monitor compose` and the detection commands."""
    from monitor.cli import media as cli_media

    ev = sub.add_parser("eval", help="evaluate a model on labelled data")
    evs = ev.add_subparsers(dest="what", required=True)
    et = evs.add_parser("text", help="evaluate on a TSV with columns label, text")
    et.add_argument("--data", type=Path, required=True)
    et.add_argument("--model", default="default",
                    help="'default' (packaged fine-tuned model), 'vader', or a path to an artefact dir")
    et.add_argument("--json", action="store_true", help="print one JSON object")
    et.add_argument("--plot", type=Path, default=None, help="write a confusion-matrix PNG here")
    et.add_argument("--device", default=None)
    et.add_argument("--batch-size", type=int, default=64, help="texts per model call")
    et.add_argument("--backend", choices=["torch", "int8", "auto"], default="torch",
                    help="torch: fp32 on CPU (fp16 on a GPU); int8: the worker's CPU default (per-token int8)")
    et.add_argument("--compare", action="append", default=[],
                    help="also evaluate this model on the same file and print the headline metrics side by side: "
                         "'previous' (the model the packaged one replaced), 'vader', 'default' or a dir; repeatable")
    et.set_defaults(func=cmd_eval_text)
    eb = evs.add_parser("text-backends", help="int8 CPU backend vs fp32 torch: macro-F1 on every text dev set")
    eb.add_argument("--json", action="store_true")
    eb.set_defaults(func=cmd_eval_text_backends)
    ep = evs.add_parser("prior-shift", help="class-prior shift on the text dev sets: each resampled to other priors, "
                        "posteriors as they are vs adjusted with the EM-estimated prior (Saerens et al. 2002)")
    ep.add_argument("--backend", choices=["torch", "int8"], default="int8", help="text model backend")
    ep.add_argument("--source", choices=["train", "dev"], default="dev",
                    help="the prior the posteriors are taken to be calibrated to: the domain's train label prior, or "
                    "the dev set's own label prior (the temperature is fitted on dev)")
    ep.add_argument("--output", type=Path, default=None, help="also write the JSON report here")
    ep.add_argument("--json", action="store_true", help="print one JSON object")
    ep.set_defaults(func=cmd_eval_prior_shift)
    ef = evs.add_parser("fin-microblog", help="the rule-labelled, hand-checked finance chatter set from the real "
                        "cashtag stream (monitor/eval_data/fin_microblog_dev.tsv): bullish / bearish read right?")
    ef.add_argument("--model", action="append", default=[],
                    help="'default', 'previous', 'vader' or an artefact dir; repeatable (default: all three named)")
    ef.add_argument("--backend", choices=["torch", "int8"], default="torch", help="text model backend")
    ef.add_argument("--output", type=Path, default=None, help="also write the JSON report here")
    ef.set_defaults(func=cmd_eval_fin_microblog)
    from monitor.cli import detect as cli_detect

    cli_detect.add_eval(evs)
    cli_media.add_eval(evs)
    cli_media.add_bench(sub)
    cli_media.add_compose(sub)

    cli_detect.add_parsers(sub)


def cmd_train_text(args: argparse.Namespace) -> int:
    from monitor.score.text_model import DEFAULT_ARTEFACT
    from monitor.training.metrics import format_report
    from monitor.training.text_train import TrainConfig, train_text

    cfg = TrainConfig(**{k: getattr(args, k) for k in TrainConfig().__dict__})
    out = args.out or DEFAULT_ARTEFACT
    summary = train_text(out, cfg, data_dir=args.data_dir, device=args.device, base_dir=args.base_dir)
    for name, rep in summary["dev"].items():
        print(format_report(rep, f"[{summary['version']}] {name}"))
    print(f"artefact written to {out} ({summary['seconds']} s)")
    return 0


def cmd_train_text_dapt(args: argparse.Namespace) -> int:
    from monitor.training.dapt import DaptConfig, run_dapt

    cfg = DaptConfig(**{k: getattr(args, k) for k in DaptConfig().__dict__})
    summary = run_dapt(args.out, cfg, data_dir=args.data_dir)
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=1))
    return 0


def cmd_train_text_pseudo(args: argparse.Namespace) -> int:
    from monitor.training.self_train import pseudo_label

    summary = pseudo_label(args.out, args.min_confidence, args.cap, args.model, args.data_dir)
    print(json.dumps(summary, indent=1))
    return 0


def cmd_train_text_soup(args: argparse.Namespace) -> int:
    from monitor.training.text_soup import soup_text

    try:
        s = soup_text(args.member, args.out, device=args.device, force=args.force, limit=args.limit)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in s.items() if k not in ("dev", "member_training")}, indent=1))
    return 0


def load_text_predictor(model: str, device: str | None, batch_size: int, backend: str = "torch"):  # noqa: ANN201
    """Return (name, callable texts -> probs ndarray)."""
    if model == "vader":
        from monitor.score.vader import VaderModel

        v = VaderModel()
        return v.version, v.predict_proba
    from monitor.score.text_model import DEFAULT_ARTEFACT, PREVIOUS_ARTEFACT, TextSentimentModel

    path = {"default": DEFAULT_ARTEFACT, "previous": PREVIOUS_ARTEFACT}.get(model, Path(model))
    if not TextSentimentModel.available(path):
        raise SystemExit(f"no trained text model at {path}: run `monitor train text` or use --model vader")
    m = TextSentimentModel(path, device=device, batch_size=batch_size, backend=backend)
    return f"{m.version} ({m.backend})", lambda texts: m.predict_proba(texts).numpy()


def cmd_eval_text(args: argparse.Namespace) -> int:
    from monitor.cli.table import HEADLINE, side_by_side
    from monitor.training.metrics import classification_report, format_report, plot_confusion
    from monitor.training.text_data import read_labelled_tsv

    try:
        examples = read_labelled_tsv(args.data)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    name, predict = load_text_predictor(args.model, args.device, args.batch_size, args.backend)
    probs = predict([e.text for e in examples]) if examples else __import__("numpy").zeros((0, 3))
    y = [e.label for e in examples]
    rep = classification_report(y, probs.argmax(1).tolist(), LABELS, probs)
    rep["model"] = name
    rep["data"] = str(args.data)
    if args.plot:
        plot_confusion(rep, str(args.plot), f"{name} on {args.data.name} (n={rep['n']})")
    compared = []
    for other in args.compare:
        oname, opredict = load_text_predictor(other, args.device, args.batch_size, args.backend)
        oprobs = opredict([e.text for e in examples]) if examples else __import__("numpy").zeros((0, 3))
        orep = classification_report(y, oprobs.argmax(1).tolist(), LABELS, oprobs)
        compared.append({"model": oname, **{k: orep[k] for k in HEADLINE}})
    if compared:
        rep["compared"] = compared
    if args.json:
        print(json.dumps(rep))
    else:
        print(format_report(rep, f"model={name} data={args.data}"))
        if compared:
            print(side_by_side([{"model": name, **{k: rep[k] for k in HEADLINE}}, *compared], rep["n"]))
    return 0


def cmd_eval_prior_shift(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from monitor.score.text_model import TextSentimentModel
    from monitor.training.prior_shift import evaluate
    from monitor.training.text_data import load_splits

    train, dev = load_splits()
    domain = {"tweets_sentiment_dev": "social", "fin_tweets_dev": "fin_tweets", "fin_phrasebank_dev": "fin_news"}
    model = TextSentimentModel(device="cpu", backend=args.backend)
    sets, sources = {}, {}
    for name, examples in dev.items():
        y = np.array([e.label for e in examples])
        sets[name] = (y, model.predict_proba([e.text for e in examples]).numpy())
        src = [e.label for e in train[domain[name]]] if args.source == "train" else y.tolist()
        tr = np.bincount(src, minlength=3)
        sources[name] = tr / tr.sum()
    rep = {"model": model.version, "backend": model.backend,
           "source_prior": "the domain's train label prior" if args.source == "train" else "the dev set's own prior",
           "data": "text dev sets (resampled, seed 7): dev figures", **evaluate(sets, sources)}
    if args.output:
        args.output.write_text(json.dumps(rep, indent=1) + "\n")
    if args.json:
        print(json.dumps(rep))
        return 0
    for name, block in rep["sets"].items():
        print(f"{name} (n={block['n']}, own prior {block['own_prior']})")
        for t, row in block["targets"].items():
            a, e, o = row["as_is"], row["em_adjusted"], row["true_prior_adjusted"]
            print(f"  {t:<32} acc {a['accuracy']:.3f} -> EM {e['accuracy']:.3f} (true prior {o['accuracy']:.3f})"
                  f"   macro-F1 {a['macro_f1']:.3f} -> {e['macro_f1']:.3f}   macro-recall {a['macro_recall']:.3f}"
                  f" -> {e['macro_recall']:.3f}   EM prior {row['em_prior']}")
    return 0


def cmd_eval_fin_microblog(args: argparse.Namespace) -> int:
    from monitor.training.fin_microblog import DEV_FILE, evaluate, read_set

    rows = read_set()
    texts = [r["text"] for r in rows]
    report: dict = {"data": str(DEV_FILE.name), "n": len(rows), "models": {}}
    for model in args.model or ["default", "previous", "vader"]:
        name, predict = load_text_predictor(model, None, 64, args.backend)
        res = evaluate(rows, predict(texts))
        report["models"][name] = res
        a = res["all"]
        print(f"{name:45s} n={a['n']} accuracy {a['accuracy']:.3f} | bearish called neutral "
              f"{a['negative']['called_neutral']:.3f}, positive {a['negative']['called_positive']:.3f} | bullish "
              f"called neutral {a['positive']['called_neutral']:.3f}, negative {a['positive']['called_negative']:.3f}"
              f" | jargon cues {res['jargon_cues']['accuracy']:.3f} (n={res['jargon_cues']['n']}), plain "
              f"{res['plain_cues']['accuracy']:.3f} (n={res['plain_cues']['n']})")
    if args.output:
        args.output.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def cmd_eval_text_backends(args: argparse.Namespace) -> int:
    from monitor.training.backend_eval import eval_backends

    res = eval_backends()
    if args.json:
        print(json.dumps(res))
    else:
        for name, r in res["sets"].items():
            print(f"{name:<22} n={r['n']:<5} macro-F1 fp32 {r['macro_f1_torch_fp32']:.4f}  int8 {r['macro_f1_int8']:.4f}"
                  f"  delta {r['delta']:+.4f}  {'ok' if r['within_0_01'] else 'OUTSIDE 0.01'}")
        print("texts/s: " + ", ".join(f"{k} {v}" for k, v in res["texts_per_s"].items()))
    return 0 if res["all_within_0_01"] else 1
