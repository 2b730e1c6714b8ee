"""liveinspect.policy"""
