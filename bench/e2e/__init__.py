"""End-to-end benchmark of the running platform: intake submissions to first decisions on notify's operator stream."""
