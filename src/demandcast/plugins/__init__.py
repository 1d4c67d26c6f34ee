"""Forecaster plug-ins: classes a catalog.yml entry names by import path."""
