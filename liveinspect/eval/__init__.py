"""Evaluation: metrics, calibration, bootstrap intervals, reports.

- `metrics`: confusion matrix, per-class/macro P/R/F1, ROC curve, ROC-AUC, EER,
  threshold at a target FPR, one-vs-rest AUC, `wer(ref, hyp)`, `cer(ref, hyp)`.
- `calibration`: ECE, reliability bins, temperature scaling.
- `bootstrap`: `bootstrap_interval` for any per-row metric.
- `classification`: one system's metrics with intervals; `claims`: lexicon-only vs
  classifier-only vs combined; `report`: metrics.json + HTML with PNG plots.
- `cli`: `liveinspect eval TASK ...`.
"""
