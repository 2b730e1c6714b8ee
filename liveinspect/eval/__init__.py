"""liveinspect.eval"""
