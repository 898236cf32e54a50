"""Sweeps: many train -> eval experiments at once, on Ray, each an overlay on forge.yaml.

variants: the plan (a grid or random draw over `--set key=a,b`, times seeds) and each variant's id and
overlay; variant_run: one variant's train and eval, in its own output folder (what a Ray task or job runs);
ray_local: a private Ray cluster on this machine and its tasks; ray_jobs: an existing cluster through Ray
Jobs; sweep: running a plan and resuming it; table: mean and spread per configuration; landing: what a finished
variant leaves in the project (its row, its logs, the best installed for `promote`, the noise floor).
"""
