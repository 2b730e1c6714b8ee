"""liveinspect.models"""
