"""Roboflow's names for route families and task types."""

from __future__ import annotations

from gateway.results import Task

FAMILIES = {
    "detect": Task.DETECT,
    "outline": Task.INSTANCE,
    "segment": Task.SEMANTIC,
    "classify": Task.CLASSIFY,
}
FAMILY_OF_TASK = {task: family for family, task in FAMILIES.items()}
TASK_TYPES = {
    Task.DETECT: "object-detection",
    Task.INSTANCE: "instance-segmentation",
    Task.SEMANTIC: "semantic-segmentation",
    Task.CLASSIFY: "classification",
}
