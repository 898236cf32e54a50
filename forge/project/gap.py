"""How close the best model is to the teacher: gap closure on the current gold set and output schema.

(best - base) / (teacher - base), from the zero-shot baseline row, the newest teacher row (forge.evaluation.
teacher) and the best score, all measured on the gold set and schema the project has now.
"""

from __future__ import annotations

from forge.project.records import baseline_now, best, measured_now, teacher_now

# at or above the first the best model is worth shipping, at or above the second worth retuning; below it the
# training data is the problem (distil labs' deploy gate)
DEPLOY_CLOSURE, RETUNE_CLOSURE = 0.8, 0.4


def gap(project) -> dict | None:
    """The best model's place between the base model and the teacher on the current gold set and schema:
    {base, teacher, best, closure, advice}; closure is None while the best or a teacher above the base is missing.
    None without both a baseline and a teacher measured on this gold set."""
    base, teacher = baseline_now(project), teacher_now(project)
    if not (base and teacher):
        return None
    top = best(project)
    student = top["accuracy"] if top and measured_now(project, top) else None
    out = {
        "base": base["accuracy"],
        "teacher": teacher["accuracy"],
        "teacher_model": teacher["model"],
        "best": student,
        "closure": None,
        "advice": None,
    }
    if teacher["accuracy"] <= base["accuracy"]:
        out["advice"] = "the teacher scores no higher than the base model: gap closure is undefined"
    elif student is not None:
        closure = (student - base["accuracy"]) / (teacher["accuracy"] - base["accuracy"])
        out["closure"] = round(closure, 4)
        out["advice"] = (
            "deploy" if closure >= DEPLOY_CLOSURE else "retune" if closure >= RETUNE_CLOSURE else "regenerate data"
        )
    return out


def gap_text(g: dict | None) -> str | None:
    """'0.82 of the gap (base 45.0% -> best 86.0%, teacher 95.0%): deploy', or None without a teacher."""
    if not g:
        return None
    scores = (
        f"base {100 * g['base']:.1f}% -> best "
        + (f"{100 * g['best']:.1f}%" if g["best"] is not None else "none")
        + f", teacher {100 * g['teacher']:.1f}% ({g['teacher_model']})"
    )
    if g["closure"] is None:
        return f"{g['advice'] or 'no best model yet'} ({scores})"
    return f"{g['closure']:.2f} of the gap closed ({scores}): {g['advice']}"


def gap_reached(project) -> str | None:
    """Why agent.stop_at_gap_closure ends the run now (the best closed that share of the gap), or None."""
    rule = project.config.agent.stop_at_gap_closure
    g = gap(project) if rule else None
    if not (g and g["closure"] is not None and g["closure"] >= rule):
        return None
    return f"gap closure {g['closure']:.2f} reached agent.stop_at_gap_closure {rule:g} ({gap_text(g)})"
