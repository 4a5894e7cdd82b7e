"""The demo: a synthetic hub moved live between two clouds while researchers work."""

from passerelle.demo.live_hub import DemoStory, ResearcherLog, run_live_demo

__all__ = ["DemoStory", "ResearcherLog", "run_live_demo"]
