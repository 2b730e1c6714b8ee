"""`liveinspect eval TASK --model DIR --data PATH --out DIR`; wired into liveinspect.cli by `register`."""

from __future__ import annotations

import argparse
import sys


def run_claims(args: argparse.Namespace) -> int:
    from liveinspect.eval.claims import evaluate_claims, read_labelled_texts
    from liveinspect.eval.report import write_eval_report
    from liveinspect.models.claims import load_claim_classifier, load_default_claim_classifier

    texts, y_true = read_labelled_texts(args.data, args.text_column, args.label_column)
    if args.lexicon_only:
        classifier = None
    elif args.model:
        classifier = load_claim_classifier(args.model)
    else:
        classifier = load_default_claim_classifier()
    results = evaluate_claims(texts, y_true, classifier, threshold=args.threshold,
                              n_resamples=args.resamples, seed=args.seed, progress=not args.no_progress)
    results["data"] = str(args.data)
    files = write_eval_report(results, args.out)
    for name, metrics in results["systems"].items():
        detection = metrics.get("detection", {})
        auc = detection.get("roc_auc")
        print(f"{name:16s} macro-F1 {metrics['macro']['f1']:.3f}  accuracy {metrics['accuracy']:.3f}"
              + (f"  violation AUC {auc:.3f}  EER {detection['eer']:.3f}" if auc is not None else ""),
              file=sys.stderr)
    print(f"report: {files.html}\nmetrics: {files.metrics_json}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser("eval", help="evaluate a model on labelled data; writes an HTML report")
    tasks = evaluate.add_subparsers(dest="task", required=True, metavar="TASK")
    claims = tasks.add_parser("claims", help="lexicon-only vs classifier-only vs combined claim detection")
    claims.add_argument("--model", help="claim model folder (default: the shipped n-gram model)")
    claims.add_argument("--data", required=True, help="labelled csv/jsonl/parquet (text, label)")
    claims.add_argument("--out", required=True, help="folder for metrics.json, report.html and plots")
    claims.add_argument("--threshold", type=float, default=0.5, help="classifier threshold when combined")
    claims.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    claims.add_argument("--seed", type=int, default=0)
    claims.add_argument("--text-column", default="text")
    claims.add_argument("--label-column", default="label")
    claims.add_argument("--lexicon-only", action="store_true", help="evaluate the lexicon alone")
    claims.add_argument("--no-progress", action="store_true")
    claims.set_defaults(func=run_claims)
