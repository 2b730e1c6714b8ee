"""liveinspect.report"""
