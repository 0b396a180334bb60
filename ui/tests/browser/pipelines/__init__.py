"""Pipelines the browser tests and bench/ui_paint run with LocalRunner to fill a store."""
