"""liveinspect.training"""
