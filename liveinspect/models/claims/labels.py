"""The claim classifier's labels: the violation kinds a sentence can be rated as, and `compliant`.

They belong to the model (a checkpoint's card lists them in this order), not
to the analyzer that reads its output. `misleading_claim` (invented origin,
awards, endorsements or heritage; guaranteed results or returns) came after
the first six: a checkpoint trained before it has seven labels and still loads.
"""

from __future__ import annotations

CLASSIFIER_LABELS = ["absolute_term", "false_efficacy", "false_price", "fake_data",
                     "negative_list_product", "offplatform_lure", "compliant", "misleading_claim"]
COMPLIANT = "compliant"
