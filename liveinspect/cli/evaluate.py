"""`liveinspect eval TASK --model DIR --data PATH --out DIR`; registered by liveinspect.cli."""

from __future__ import annotations

import argparse
import sys


def run_claims(args: argparse.Namespace) -> int:
    from liveinspect.eval.claims import evaluate_claims, format_claims_table, read_claim_rows
    from liveinspect.eval.report import write_eval_report
    from liveinspect.models.claims import load_claim_classifier, load_default_claim_classifier

    rows = read_claim_rows(args.data, args.text_column, args.label_column)
    ngram = encoder = None
    if args.lexicon_only:
        classifier = None
    elif args.model:
        classifier = load_claim_classifier(args.model)
    elif args.no_encoder:
        classifier = load_default_claim_classifier()
    else:
        from liveinspect.models.claims.combined import shared_combined_claim_classifier

        classifier = shared_combined_claim_classifier()
        ngram, encoder = classifier.ngram, classifier.encoder
    results = evaluate_claims(rows, classifier, ngram=ngram, encoder=encoder, threshold=args.threshold,
                              n_resamples=args.resamples, seed=args.seed, progress=not args.no_progress)
    results["data"] = str(args.data)
    files = write_eval_report(results, args.out)
    print(format_claims_table(results), file=sys.stderr)
    combined = results["systems"].get("combined", {}).get("evidence")
    if combined:
        print(f"combined, decided by: {combined['decided_by']}; withdrawn by category rules: "
              f"{combined['withdrawn_by_category_rules']}", file=sys.stderr)
    print(f"report: {files.html}\nmetrics: {files.metrics_json}", file=sys.stderr)
    return 0


def run_media(args: argparse.Namespace) -> int:
    from liveinspect.errors import DataError
    from liveinspect.eval.classification import SystemOutputs, evaluate_system, worst_errors
    from liveinspect.eval.report import write_eval_report
    from liveinspect.datasets import label_ids, load_local_dataset
    from liveinspect.models.media import MediaClassifier

    classifier = MediaClassifier(args.model)
    if classifier.task.name != args.task:
        raise DataError(f"{args.model} holds a {classifier.task.name} model, not {args.task}")
    dataset = load_local_dataset(args.data)
    y_true, labels = label_ids(dataset, labels=classifier.labels)
    values = dataset[classifier.task.column]
    probabilities = classifier.predict_proba(values)
    negative = args.negative_label
    if negative is not None and negative not in labels:
        raise DataError(f"--negative-label {negative!r} is not among {labels}")
    scores = None if negative is None else 1.0 - probabilities[:, labels.index(negative)]
    outputs = SystemOutputs(f"{args.task}-classifier", probabilities.argmax(axis=1),
                            probabilities=probabilities, detection_scores=scores)
    metrics = evaluate_system(outputs, y_true, labels, negative_label=negative, n_resamples=args.resamples,
                              seed=args.seed)
    names = [v if isinstance(v, str) else getattr(v, "filename", "") or f"row {i}"
             for i, v in enumerate(values)]
    metrics["worst_errors"] = worst_errors(names, y_true, outputs, labels)
    results = {"task": args.task, "labels": labels, "rows": len(y_true), "data": str(args.data),
               "classifier": {"name": f"{args.task}-small-convnet",
                              "version": classifier.card["weights"]["sha256"][:12]},
               "systems": {outputs.name: metrics}}
    files = write_eval_report(results, args.out)
    print(f"{outputs.name}: macro-F1 {metrics['macro']['f1']:.3f}  accuracy {metrics['accuracy']:.3f}\n"
          f"report: {files.html}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser("eval", help="evaluate a model on labelled data; writes an HTML report")
    tasks = evaluate.add_subparsers(dest="task", required=True, metavar="TASK")
    claims = tasks.add_parser("claims", help="lexicon, n-gram, encoder and combined claim detection side "
                                             "by side (macro-F1, binary P/R/F1, per language, intervals)")
    claims.add_argument("--model", help="one claim model folder instead of the shipped n-gram + encoder pair")
    claims.add_argument("--no-encoder", action="store_true",
                        help="the shipped n-gram model alone, without the multilingual encoder")
    claims.add_argument("--data", required=True, help="labelled csv/jsonl/parquet (text, label)")
    claims.add_argument("--out", required=True, help="folder for metrics.json, report.html and plots")
    claims.add_argument("--threshold", type=float, default=None,
                        help="one classifier threshold for every kind (default: product_rules.yaml's)")
    claims.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    claims.add_argument("--seed", type=int, default=0)
    claims.add_argument("--text-column", default="text")
    claims.add_argument("--label-column", default="label")
    claims.add_argument("--lexicon-only", action="store_true", help="evaluate the lexicon alone")
    claims.add_argument("--no-progress", action="store_true")
    claims.set_defaults(func=run_claims)
    for name in ("image", "audio"):
        media = tasks.add_parser(name, help=f"a trained {name} classifier (liveinspect train {name})")
        media.add_argument("--model", required=True, help="checkpoint folder")
        media.add_argument("--data", required=True, help=f"{name}folder or another local dataset")
        media.add_argument("--out", required=True, help="folder for metrics.json, report.html and plots")
        media.add_argument("--negative-label", help="the harmless class, for ROC/EER of 'anything else'")
        media.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
        media.add_argument("--seed", type=int, default=0)
        media.set_defaults(func=run_media)
    from liveinspect.cli.synthetic import register_eval

    register_eval(tasks)  # voice, avatar
