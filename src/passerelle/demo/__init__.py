"""The demo: a guided walk through passerelle on embedded defaults."""

from passerelle.demo.storage_tour import TourResult, run_storage_tour

__all__ = ["TourResult", "run_storage_tour"]
