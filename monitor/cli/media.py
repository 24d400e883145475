"""`monitor train faces|voice`, `monitor eval faces|voice|ocr|asr`, `monitor bench-media` (lazy imports)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _run(fn: Any, *args: Any) -> dict[str, Any] | None:
    """Run an evaluation; bad input files end as a one-line error (exit code 2), not a traceback."""
    try:
        return fn(*args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _print(rep: dict[str, Any], as_json: bool, title: str, plot: Path | None = None) -> None:
    from monitor.training.metrics import format_report, plot_confusion

    if plot and "confusion" in rep:
        plot_confusion(rep, str(plot), title)
    if as_json:
        print(json.dumps(rep))
    elif "confusion" in rep:
        print(format_report(rep, title))
    else:
        print(json.dumps(rep, indent=1))


def add_train(trs: Any) -> None:
    f = trs.add_parser("faces", help="train the facial-expression CNN on FER2013 (select on its dev split)")
    f.add_argument("--out", type=Path, default=None)
    f.add_argument("--epochs", type=int, default=22)
    f.add_argument("--width", type=int, default=24)
    f.add_argument("--batch", type=int, default=128)
    f.add_argument("--lr", type=float, default=3e-3)
    f.add_argument("--seed", type=int, default=13)
    f.add_argument("--device", default=None, help="cpu | cuda (default: cuda if present)")
    f.add_argument("--max-minutes", type=float, default=None, help="stop after this many minutes (best epoch kept)")
    f.add_argument("--data-dir", type=Path, default=None, help="folder with fer2013_{train,dev}.npz")
    f.add_argument("--init", type=Path, default=None,
                   help="continue from this artefact (warm restart: a new one-cycle schedule peaking at --lr)")
    f.add_argument("--pct-start", type=float, default=0.15, help="share of steps spent warming up the learning rate")
    f.set_defaults(func=cmd_train_faces)
    a = trs.add_parser("align", help="project face and voice vectors into the text encoder's space")
    a.add_argument("--out", type=Path, default=None)
    a.set_defaults(func=cmd_train_align)
    f = trs.add_parser("fusion", help="compose train/dev posts, encode them, train + calibrate the attention fusion")
    f.add_argument("--n-train", type=int, default=1400, help="composed train posts (default 1400)")
    f.add_argument("--n-dev", type=int, default=350, help="composed dev posts (default 350)")
    f.add_argument("--seed", type=int, default=2)
    f.add_argument("--members", type=int, default=5, help="nets per grid point, averaged (seed ensemble; default 5)")
    f.add_argument("--out", type=Path, default=None, help="artefact folder (default monitor/models/fusion)")
    f.add_argument("--report", type=Path, default=None, help="also write the full report JSON here")
    f.add_argument("--in-sample-voice", action="store_true",
                   help="train on the voice model's in-sample tokens for Emo-DB train clips (the old recipe) "
                        "instead of cross-fitted, leave-one-speaker-out ones")
    f.set_defaults(func=cmd_train_fusion)
    v = trs.add_parser("voice", help="train the vocal-emotion model on Emo-DB (leave-one-speaker-out)")
    v.add_argument("--out", type=Path, default=None)
    v.add_argument("--data-dir", type=Path, default=None, help="folder with the Emo-DB wavs and labels.tsv")
    v.set_defaults(func=cmd_train_voice)


def add_eval(evs: Any) -> None:
    f = evs.add_parser("faces", help="evaluate the face CNN on an npz (images, labels, classes)")
    f.add_argument("--data", type=Path, required=True)
    f.add_argument("--model", type=Path, default=None)
    f.add_argument("--json", action="store_true")
    f.add_argument("--plot", type=Path, default=None)
    f.add_argument("--compare", action="append", default=[],
                   help="also evaluate this model on the same file, headline metrics side by side: 'previous' "
                        "(the artefact the packaged one replaced, monitor/models/faces-cnn-previous) or a dir")
    f.set_defaults(func=cmd_eval_faces)
    v = evs.add_parser("voice", help="evaluate the vocal-emotion model on a folder of clips + labels.tsv")
    v.add_argument("--data", type=Path, required=True, help="folder of audio files")
    v.add_argument("--labels", type=Path, default=None, help="TSV with columns file, emotion (default DATA/labels.tsv)")
    v.add_argument("--model", type=Path, default=None)
    v.add_argument("--json", action="store_true")
    v.add_argument("--plot", type=Path, default=None)
    v.add_argument("--compare", action="append", default=[],
                   help="also evaluate this model on the same clips, side by side: 'previous' "
                        "(monitor/models/voice-emodb-previous, when a replaced model is kept) or a dir")
    v.set_defaults(func=cmd_eval_voice)
    p = evs.add_parser("posts", help="multimodal posts (JSONL, posts.raw schema + label [+ kind]) through the "
                                     "worker's decode -> encode -> score code; with a text-only ablation")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--scorer", choices=["auto", "text", "vader"], default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval_posts)
    o = evs.add_parser("ocr", help="OCR character error rate on images rendered from dev-split sentences")
    o.add_argument("--n", type=int, default=100)
    o.add_argument("--seed", type=int, default=5)
    o.add_argument("--baseline", action="store_true", help="RapidOCR's default settings (the pre-v2 whole-image OCR)")
    o.add_argument("--json", action="store_true")
    o.set_defaults(func=cmd_eval_ocr)
    a = evs.add_parser("asr", help="VAD + ASR word error rate on espeak-ng speech of dev-split sentences")
    a.add_argument("--n", type=int, default=40)
    a.add_argument("--seed", type=int, default=7)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_eval_asr)


def add_compose(sub: Any) -> None:
    c = sub.add_parser("compose", help="compose multimodal post sets from ../shared/data (train or dev sources)")
    cs = c.add_subparsers(dest="what", required=True)
    p = cs.add_parser("posts", help="JSONL posts with label and kind (see monitor/training/compose.py)")
    p.add_argument("--split", choices=["train", "dev"], required=True)
    p.add_argument("--n", type=int, default=700)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--kinds", default=",".join(("text", "image_text", "image_only", "face", "speech", "voice",
                                                 "agree")))
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_compose_posts)


def cmd_compose_posts(args: argparse.Namespace) -> int:
    from monitor.training.compose import compose, write_jsonl

    n = write_jsonl(compose(args.split, args.n, args.seed, tuple(args.kinds.split(","))), args.out)
    print(f"wrote {n} posts to {args.out}")
    return 0


def cmd_eval_posts(args: argparse.Namespace) -> int:
    from monitor.training.posts_eval import eval_posts

    rep = _run(eval_posts, args.data, args.scorer)
    if rep is None:
        return 2
    if args.json:
        print(json.dumps(rep))
        return 0
    from monitor.training.metrics import format_report

    print(format_report({**rep, "labels": ["negative", "neutral", "positive"]}, f"posts {args.data} ({rep['model']})"))
    abl = rep["ablation_text_only"]
    print(f"text-only ablation: accuracy {abl['accuracy']:.4f}  macro-F1 {abl['macro_f1']:.4f}")
    for k, v in rep.get("per_kind", {}).items():
        print(f"  {k:<12} n={v['n']:<5} accuracy {v['accuracy']:.4f}  macro-F1 {v['macro_f1']:.4f}  "
              f"text-only accuracy {v['text_only_accuracy']:.4f}")
    print(f"invalid (would be dead-lettered): {rep['invalid']}  unscored: {rep['unscored']}")
    return 0


def add_bench(sub: Any) -> None:
    b = sub.add_parser("bench-media", help="images/s and audio-seconds/s per media encoder stage on this machine")
    b.add_argument("--images", type=int, default=20)
    b.add_argument("--clips", type=int, default=10)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench_media)


def cmd_train_faces(args: argparse.Namespace) -> int:
    import torch

    from monitor.media.face_model import DEFAULT_FACE_ARTEFACT
    from monitor.training.faces import DATA, train_faces

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    meta = train_faces(args.out or DEFAULT_FACE_ARTEFACT, args.epochs, args.batch, args.lr, args.width, args.seed,
                       args.data_dir or DATA, device, args.max_minutes, args.init, args.pct_start)
    print(json.dumps({k: v for k, v in meta.items() if k != "history"}, indent=1))
    return 0


def cmd_train_align(args: argparse.Namespace) -> int:
    from monitor.training.align import DEFAULT_ALIGN_ARTEFACT, train_align

    print(json.dumps(train_align(args.out or DEFAULT_ALIGN_ARTEFACT), indent=1))
    return 0


def cmd_train_voice(args: argparse.Namespace) -> int:
    from monitor.media.prosody import DEFAULT_VOICE_ARTEFACT
    from monitor.training.voice import DATA, train_voice

    meta = train_voice(args.out or DEFAULT_VOICE_ARTEFACT, args.data_dir or DATA)
    print(json.dumps({k: v for k, v in meta.items() if k not in ("per_class", "confusion")}, indent=1))
    return 0


def _compare(rep: dict[str, Any], name: str, others: list[str], default: Path, evaluate: Any,
             as_json: bool) -> bool:
    """Evaluate each of `others` ('previous' = `default` with -previous appended, or a dir) with `evaluate(dir)`;
    add `compared` (headline metrics per model) to `rep`; print a side-by-side table unless JSON. False on error."""
    from monitor.cli.table import HEADLINE, side_by_side

    compared = []
    for other in others:
        path = default.with_name(default.name + "-previous") if other == "previous" else Path(other)
        if not (path / "meta.json").exists():
            print(f"error: no model to compare at {path}", file=sys.stderr)
            return False
        orep = _run(evaluate, path)
        if orep is None:
            return False
        compared.append({"model": f"{path.name} ({orep.get('model', '')})".replace(" ()", ""),
                         **{k: orep[k] for k in HEADLINE}})
    if compared:
        rep["compared"] = compared
        if not as_json:
            print(side_by_side([{"model": f"{name} ({rep.get('model', '')})".replace(" ()", ""),
                                 **{k: rep[k] for k in HEADLINE}}, *compared], rep["n"]))
    return True


def cmd_eval_faces(args: argparse.Namespace) -> int:
    from monitor.media.face_model import DEFAULT_FACE_ARTEFACT
    from monitor.training.faces import eval_faces

    rep = _run(eval_faces, args.data, args.model)
    if rep is None:
        return 2
    title = f"faces CNN on {args.data} (n={rep['n']})"
    if not args.json:
        _print(rep, False, title, args.plot)
    model = Path(args.model or DEFAULT_FACE_ARTEFACT)
    if not _compare(rep, model.name, args.compare, DEFAULT_FACE_ARTEFACT,
                    lambda p: eval_faces(args.data, p), args.json):
        return 2
    if args.json:
        _print(rep, True, title, args.plot)
    return 0


def cmd_eval_voice(args: argparse.Namespace) -> int:
    from monitor.media.prosody import DEFAULT_VOICE_ARTEFACT
    from monitor.training.voice import eval_voice

    labels = args.labels or args.data / "labels.tsv"
    rep = _run(eval_voice, args.data, labels, args.model)
    if rep is None:
        return 2
    title = f"voice emotion on {args.data} (n={rep['n']})"
    if not args.json:
        _print(rep, False, title, args.plot)
    model = Path(args.model or DEFAULT_VOICE_ARTEFACT)
    if not _compare(rep, model.name, args.compare, DEFAULT_VOICE_ARTEFACT,
                    lambda p: eval_voice(args.data, labels, p), args.json):
        return 2
    if args.json:
        _print(rep, True, title, args.plot)
    return 0


def cmd_eval_ocr(args: argparse.Namespace) -> int:
    from monitor.training.media_eval import eval_ocr

    _print(eval_ocr(args.n, args.seed, fast=not args.baseline), args.json, "OCR")
    return 0


def cmd_eval_asr(args: argparse.Namespace) -> int:
    from monitor.training.media_eval import eval_asr

    _print(eval_asr(args.n, args.seed), args.json, "ASR")
    return 0


def cmd_bench_media(args: argparse.Namespace) -> int:
    from monitor.media.bench import bench_media

    _print(bench_media(args.images, args.clips), args.json, "media bench")
    return 0


def cmd_train_fusion(args: argparse.Namespace) -> int:
    from monitor.score.fusion import DEFAULT_FUSION_ARTEFACT
    from monitor.training.fusion import train_fusion

    rep = train_fusion(args.n_train, args.n_dev, args.seed, args.out or DEFAULT_FUSION_ARTEFACT,
                       n_seeds=args.members, voice_oof=not args.in_sample_voice)
    text = json.dumps(rep, indent=1)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text + "\n")
    print(text)
    return 0
