"""liveinspect.pipelines"""
