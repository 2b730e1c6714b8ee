"""The policy files: shipped data, user files, validation errors, severity and the ladder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from liveinspect.errors import LiveInspectError, PolicyError
from liveinspect.pipelines.text import TextAnalyzer
from liveinspect.policy import default_policy_path, load_policy, load_policy_dir
from liveinspect.schema import Action, Evidence, Finding, FindingKind, Modality, Severity

REQUIRED_ARTICLES = ["Art-7", "Art-9", "Art-10", "Art-12", "Art-13", "Art-14", "Art-17",
                     "Art-18", "Art-20", "Art-21", "Art-25", "AdLaw-9", "AdLaw-28"]
REQUIRED_CATEGORIES = ["firearms", "explosives_fireworks", "controlled_knives", "narcotics",
                       "prescription_drugs", "ecig_tobacco", "protected_wildlife",
                       "gambling_devices", "counterfeit_documents", "covert_surveillance",
                       "hacking_accounts", "human_organs_blood", "professional_medical_devices",
                       "pornography"]


def _shipped(name: str) -> dict:
    return yaml.safe_load(default_policy_path(name).read_text(encoding="utf-8"))


def _write(tmp_path: Path, name: str, data: dict | str) -> Path:
    path = tmp_path / f"{name}.yaml"
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def _finding(kind: FindingKind, severity: Severity, articles: list[str] | None = None) -> Finding:
    return Finding(kind=kind, modality=Modality.title, score=0.9, model="test", model_version="0",
                   severity=severity, articles=articles or [], evidence=Evidence())


def test_shipped_policy_loads_and_covers_the_measures() -> None:
    policy = load_policy()
    refs = [a.ref for a in policy.articles]
    assert set(REQUIRED_ARTICLES) <= set(refs)
    for ref in refs:
        article = policy.article(ref)
        assert article.summary.zh and article.summary.en
    assert set(REQUIRED_CATEGORIES) <= {c.id for c in policy.categories}
    for category in policy.categories:
        assert category.keywords.zh and category.keywords.en, category.id
        assert category.evasions, category.id
        assert category.image_prompts.zh and category.image_prompts.en
    assert {lex.kind for lex in policy.lexicons} >= {
        FindingKind.absolute_term, FindingKind.false_efficacy, FindingKind.false_price,
        FindingKind.fake_data, FindingKind.misleading_claim, FindingKind.offplatform_lure}
    assert len(policy.version) == 12


def test_summary_lists_what_the_policy_holds() -> None:
    summary = load_policy().summary()
    assert summary["version"] == load_policy().version
    assert set(summary["files"]) == {"articles", "negative_list", "claims", "ladder", "qr_rules",
                                     "scene_prompts", "aigc_labels", "product_rules"}
    assert summary["kinds"]["absolute_term"]["articles"] == ["AdLaw-9", "Art-18"]
    assert summary["categories"]["firearms"]["severity"] == "critical"
    assert summary["categories"]["firearms"]["terms"] > 20
    assert summary["lexicons"]["lure_zh"]["patterns"] >= 4
    assert summary["actions"]["critical"] == "suspension"


def test_default_policy_is_cached() -> None:
    assert load_policy() is load_policy()


def test_articles_and_severity_per_kind() -> None:
    policy = load_policy()
    assert policy.articles_for(FindingKind.absolute_term) == ["AdLaw-9", "Art-18"]
    assert "Art-10" in policy.articles_for("offplatform_lure")
    assert "Art-13" in policy.articles_for(FindingKind.synthetic_voice)
    # A negative-list category adds its own articles.
    assert "Art-20" in policy.articles_for(FindingKind.negative_list_product, "pornography")
    assert policy.severity_for(FindingKind.false_efficacy, 0.9) is Severity.high
    assert policy.severity_for(FindingKind.false_efficacy, 0.5) is Severity.medium  # weak: -1
    assert policy.severity_for(FindingKind.false_efficacy, 0.2) is Severity.low  # very weak: -2
    assert policy.severity_for(FindingKind.qr_code, 0.1) is Severity.info  # clamped at the bottom
    assert policy.severity_for(FindingKind.negative_list_product, 0.9, "firearms") is Severity.critical
    assert policy.severity_for(FindingKind.negative_list_product, 0.9, "adult_products") is Severity.medium
    # A category only counts for negative-list findings, not another analyzer's label.
    assert policy.severity_for(FindingKind.unsuitable_attire, 0.9, "firearms") is Severity.medium
    assert policy.articles_for(FindingKind.unsuitable_attire, "pornography") == ["Art-20"]


def test_action_ladder() -> None:
    policy = load_policy()
    assert [policy.action_for(s) for s in Severity] == [
        Action.none, Action.popup_prompt, Action.violation_warning, Action.traffic_restriction,
        Action.suspension]


def test_article_lookup_and_unknown_ref() -> None:
    policy = load_policy()
    assert "negative list" in policy.article("Art-7").summary.en
    assert policy.article("AdLaw-9").source.startswith("Advertising Law")
    with pytest.raises(PolicyError, match="Art-99"):
        policy.article("Art-99")
    with pytest.raises(PolicyError):
        policy.category("nope")


def test_image_prompts() -> None:
    prompts = load_policy().image_prompts("en")
    assert "a photo of a handgun" in prompts["firearms"]
    assert all(prompts.values())
    assert load_policy().image_prompts("zh")["ecig_tobacco"][0].startswith("一张")
    with pytest.raises(PolicyError):
        load_policy().image_prompts("fr")


def test_verdict_empty_single_and_escalation() -> None:
    policy = load_policy()
    empty = policy.verdict([])
    assert (empty.severity, empty.action) == (Severity.info, Action.none)

    one = policy.verdict([_finding(FindingKind.absolute_term, Severity.medium)])
    assert one.severity is Severity.medium
    assert one.action is Action.violation_warning
    assert one.by_kind == {"absolute_term": 1}
    assert one.by_article == {"AdLaw-9": 1, "Art-18": 1}  # filled from the kind when empty

    # Five medium findings escalate to traffic restriction (ladder.yaml); four do not.
    five = policy.verdict([_finding(FindingKind.absolute_term, Severity.medium)] * 4
                          + [_finding(FindingKind.fake_data, Severity.medium, ["Art-18"])])
    assert five.severity is Severity.medium
    assert five.action is Action.traffic_restriction
    assert five.by_article["Art-18"] == 5
    assert five.by_kind == {"absolute_term": 4, "fake_data": 1}
    assert policy.verdict([_finding(FindingKind.absolute_term, Severity.medium)] * 4).action \
        is Action.violation_warning
    mixed = [_finding(FindingKind.absolute_term, Severity.medium)] * 4 \
        + [_finding(FindingKind.false_efficacy, Severity.high)]
    assert policy.verdict(mixed).action is Action.traffic_restriction
    assert policy.verdict(mixed).severity is Severity.high

    # Three high ones: suspension; a single critical one suspends by itself.
    assert policy.verdict([_finding(FindingKind.false_efficacy, Severity.high)] * 3).action \
        is Action.suspension
    assert policy.verdict([_finding(FindingKind.false_efficacy, Severity.high)] * 2).action \
        is Action.traffic_restriction
    assert policy.verdict([_finding(FindingKind.negative_list_product, Severity.critical)]).action \
        is Action.suspension
    # Five low findings: a warning rather than a pop-up.
    assert policy.verdict([_finding(FindingKind.qr_code, Severity.low)] * 4).action \
        is Action.popup_prompt
    assert policy.verdict([_finding(FindingKind.qr_code, Severity.low)] * 5).action \
        is Action.violation_warning


def test_user_ladder_changes_actions(tmp_path: Path) -> None:
    ladder = _shipped("ladder")
    ladder["actions"]["medium"] = "traffic_restriction"
    ladder["escalation"] = [{"severity": "low", "count": 2, "action": "suspension"}]
    policy = load_policy(ladder=_write(tmp_path, "ladder", ladder))
    assert policy.action_for(Severity.medium) is Action.traffic_restriction
    assert policy.verdict([_finding(FindingKind.qr_code, Severity.low)] * 2).action \
        is Action.suspension
    # Graver findings count towards a rule for a milder severity.
    assert policy.verdict([_finding(FindingKind.qr_code, Severity.low),
                           _finding(FindingKind.absolute_term, Severity.medium)]).action \
        is Action.suspension
    assert policy.verdict([_finding(FindingKind.qr_code, Severity.info)] * 2).action is Action.none
    assert policy.version != load_policy().version


def test_user_claims_and_negative_list_are_used(tmp_path: Path) -> None:
    claims = {"lexicons": [{"id": "house_rules", "kind": "absolute_term",
                            "terms": ["宇宙无敌", {"term": "冠军", "exclude": ["冠军杯"]}]}],
              "variants": [{"pattern": "無敵", "replace": "无敌"}]}
    negative = _shipped("negative_list")
    negative["categories"] = [c for c in negative["categories"] if c["id"] == "firearms"]
    negative["categories"][0]["keywords"]["zh"].append("弹弓钢珠")
    policy = load_policy(claims=_write(tmp_path, "claims", claims),
                         negative_list=_write(tmp_path, "negative", negative))
    analyzer = TextAnalyzer(policy=policy)
    found = {(f.kind.value, f.evidence.text.matched) for f in analyzer.analyze_text(
        "宇宙 無敵好用，冠军杯不算，冠军才算，还有弹弓钢珠，最好的")}
    assert ("absolute_term", "宇宙 無敵") in found
    assert ("absolute_term", "冠军") in found
    assert ("negative_list_product", "弹弓钢珠") in found
    assert not any(m == "最好" for _, m in found)  # the shipped lexicon was replaced
    assert len([m for _, m in found if m == "冠军"]) == 1  # 冠军杯 excluded


def test_changed_user_file_is_reloaded(tmp_path: Path) -> None:
    ladder = _shipped("ladder")
    path = _write(tmp_path, "ladder", ladder)
    first = load_policy(ladder=path)
    assert load_policy(ladder=path) is first
    ladder["actions"]["low"] = "violation_warning"
    ladder["actions"]["info"] = "popup_prompt"
    path.write_text(yaml.safe_dump(ladder) + "\n# changed\n", encoding="utf-8")
    assert load_policy(ladder=path).action_for(Severity.info) is Action.popup_prompt


@pytest.mark.parametrize(("name", "mutate", "field"), [
    ("articles", lambda d: d["kinds"].pop("qr_code"), "qr_code"),
    ("articles", lambda d: d["kinds"]["qr_code"].update(articles=["Art-404"]), "Art-404"),
    ("articles", lambda d: d["articles"][0].pop("summary"), "articles.0.summary"),
    ("articles", lambda d: d["kinds"]["qr_code"].update(severity="extreme"), "kinds.qr_code.severity"),
    ("claims", lambda d: d["lexicons"][0].update(kind="shouting"), "lexicons.0.kind"),
    ("claims", lambda d: d["lexicons"][0]["patterns"].append({"pattern": "(unclosed"}),
     "lexicons.0.patterns"),
    ("claims", lambda d: d["lexicons"][0]["terms"].append({"term": "第一", "exclude": ["最近"]}),
     "lexicons.0.terms"),
    ("claims", lambda d: d["lexicons"][0].update(colour="red"), "lexicons.0.colour"),
    ("negative_list", lambda d: d["categories"][0].update(severity="extreme"),
     "categories.0.severity"),
    ("negative_list", lambda d: d["categories"][1].pop("image_prompts"),
     "categories.1.image_prompts"),
    ("negative_list", lambda d: d["categories"][0].update(articles=["Art-404"]),
     "categories.0.articles"),
    ("ladder", lambda d: d["actions"].pop("critical"), "critical"),
    ("ladder", lambda d: d["actions"].update(critical="popup_prompt"), "milder action"),
    ("ladder", lambda d: d["escalation"].append({"severity": "low", "count": 0,
                                                 "action": "suspension"}), "escalation.3.count"),
])
def test_malformed_user_files_name_file_and_field(tmp_path: Path, name: str, mutate,
                                                  field: str) -> None:
    data = _shipped(name)
    mutate(data)
    path = _write(tmp_path, name, data)
    with pytest.raises(PolicyError) as raised:
        load_policy(**{name: path})
    message = str(raised.value)
    assert str(path) in message
    assert field in message
    assert isinstance(raised.value, LiveInspectError)


def test_unreadable_or_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(claims=tmp_path / "missing.yaml")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(claims=_write(tmp_path, "claims", "lexicons: [unclosed"))
    with pytest.raises(PolicyError, match="mapping"):
        load_policy(ladder=_write(tmp_path, "ladder", "- just\n- a list\n"))


def test_qr_rules_and_scene_prompts_are_policy_files(tmp_path: Path) -> None:
    """All six files are the policy: read from a --policy folder and covered by the version hash."""
    rules = _shipped("qr_rules")
    rules["rules"] = [r for r in rules["rules"] if r["id"] != "wechat_contact"]
    scenes = _shipped("scene_prompts")
    scenes["threshold"] = 0.8
    folder = tmp_path / "house"
    folder.mkdir()
    _write(folder, "qr_rules", rules)
    _write(folder, "scene_prompts", scenes)
    policy = load_policy_dir(folder)
    shipped = load_policy()
    assert policy.version != shipped.version
    assert policy.scene_prompts.threshold == 0.8
    assert shipped.qr_rules.classify("https://u.wechat.com/x").rule == "wechat_contact"
    assert policy.qr_rules.classify("https://u.wechat.com/x").rule != "wechat_contact"


def test_grade_sets_articles_severity_and_action_from_what_was_seen() -> None:
    policy = load_policy()
    seen = Finding(kind=FindingKind.qr_code, modality=Modality.frame, score=0.9, model="frames.qr",
                   model_version="0", evidence=Evidence(category="qr:in_platform"))
    graded = policy.grade(seen)
    assert graded.severity is Severity.info  # the QR rule states its severity
    assert graded.action is policy.action_for(Severity.info)
    assert graded.articles == policy.articles_for(FindingKind.qr_code)
    unmatched = policy.grade(seen.model_copy(update={"evidence": Evidence(category="qr:unmatched")}))
    assert unmatched.severity is Severity.low
    listed = policy.grade(Finding(kind=FindingKind.negative_list_product, modality=Modality.speech,
                                  score=0.95, model="lexicon", model_version="0",
                                  evidence=Evidence(category="ecig_tobacco")))
    assert set(policy.category("ecig_tobacco").articles) <= set(listed.articles)
