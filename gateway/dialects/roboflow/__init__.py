"""Roboflow's hosted routes: detect, outline (instance), segment (semantic), classify."""
