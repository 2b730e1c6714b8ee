"""liveinspect.serving"""
