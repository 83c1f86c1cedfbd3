"""Menu scenarios: the supervisors' safety net, run by ``ivr test``."""

from ivr.scenarios.run import ScenarioResult, load_scenarios, run_file, run_scenario

__all__ = ["ScenarioResult", "load_scenarios", "run_file", "run_scenario"]
