"""The regulation as data: articles, negative list, claim lexicons, action ladder, QR rules, scene prompts.

    from liveinspect.policy import load_policy
    policy = load_policy()                       # the shipped YAML files
    policy = load_policy(claims="my_claims.yaml")  # replace any of the eight files
    policy = load_policy_dir("my_policy/")        # a folder with any of the eight
"""

from liveinspect.errors import PolicyError
from liveinspect.policy.loader import POLICY_FILES, default_policy_path, load_policy, load_policy_dir
from liveinspect.policy.models import Article, Category, Lexicon, Term, Variant
from liveinspect.policy.policy import Policy

__all__ = ["POLICY_FILES", "Article", "Category", "Lexicon", "Policy", "PolicyError", "Term", "Variant",
           "default_policy_path", "load_policy", "load_policy_dir"]
